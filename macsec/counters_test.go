package macsec_test

import (
	"testing"

	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/countertest"
)

func TestCountersListEveryField(t *testing.T) {
	countertest.Check(t, macsec.SecYStats.Counters)
	countertest.Check(t, macsec.TxSCStats.Counters)
	countertest.Check(t, macsec.TxSAStats.Counters)
	countertest.Check(t, macsec.RxSCStats.Counters)
	countertest.Check(t, macsec.RxSAStats.Counters)
}
