package dataplane

import (
	"testing"

	"github.com/secylab/secylab/macsec/countertest"
)

func TestCountersListEveryField(t *testing.T) {
	countertest.Check(t, PortStats.Counters)
}
