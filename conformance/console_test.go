package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseConsole(t *testing.T) {
	r1 := Result{Suite: "macsec", Case: "gcm-aes-128", Status: Pass, Duration: 2 * time.Second, Detail: "ok"}
	r2 := Result{Suite: "macsec", Case: "wrong-key", Status: Fail, Duration: time.Second, Detail: "two\nlines"}
	console := strings.Join([]string{
		"SeaBIOS (version 1.16.2-debian-1.16.2-1)",
		"[    0.000000] Linux version 6.1.0-56-cloud-amd64",
		"SECYLAB-CONFORMANCE-BEGIN 6.1.0-56-cloud-amd64\r",
		"=== macsec/gcm-aes-128",
		ResultLine(r1) + "\r",
		"[    3.1] random: crng init done" + ResultLine(r2), // printk in the middle of a line
		"SECYLAB-CONFORMANCE-LOG insmod x failed",
		"SECYLAB-CONFORMANCE-END exit=1\r",
		"[    5.068652] reboot: Power down",
	}, "\n")
	var seen int
	run, err := parseConsole(strings.NewReader(console), func(string) { seen++ })
	require.NoError(t, err)
	assert.Equal(t, 9, seen)
	assert.True(t, run.Begun)
	assert.True(t, run.Ended)
	assert.Equal(t, 1, run.Exit)
	assert.Equal(t, "6.1.0-56-cloud-amd64", run.Kernel)
	assert.Equal(t, []Result{r1, r2}, run.Results)
	assert.Equal(t, []string{"insmod x failed"}, run.Logs)
}

func TestParseConsoleWithoutEnd(t *testing.T) {
	run, err := parseConsole(strings.NewReader("SECYLAB-CONFORMANCE-BEGIN 6.1\nKernel panic - not syncing\n"), nil)
	require.NoError(t, err)
	assert.True(t, run.Begun)
	assert.False(t, run.Ended, "a run without the end marker is incomplete, whatever qemu's exit status")
}

func TestParseConsoleBadResult(t *testing.T) {
	_, err := parseConsole(strings.NewReader("SECYLAB-CONFORMANCE-RESULT {\"suite\":\n"), nil)
	assert.ErrorContains(t, err, "result line")
}

func TestParseMACsecShow(t *testing.T) {
	// iproute2 6.1's `ip -s macsec show`, as the guest printed it.
	out := `4: macsec0: protect on validate strict sc off sa off encrypt on send_sci on end_station off scb off replay on window 32
    cipher suite: GCM-AES-XPN-128, using ICV length 16
    TXSC: 025ec100000b0001 on SA 0
    stats: OutPktsUntagged InPktsUntagged OutPktsTooLong InPktsNoTag InPktsBadTag InPktsUnknownSCI InPktsNoSCI InPktsOverrun
                         0              0              0           0            0                0           2             0
    stats: OutPktsProtected OutPktsEncrypted OutOctetsProtected OutOctetsEncrypted
                          0              917                  0           1312345
        0: PN 918, state on, SSCI 1, key 01000000000000000000000000000000
    stats: OutPktsProtected OutPktsEncrypted
                          0              917
    RXSC: 025ec100000a0001, state on
    stats: InOctetsValidated InOctetsDecrypted InPktsUnchecked InPktsDelayed InPktsOK InPktsInvalid InPktsLate InPktsNotValid InPktsNotUsingSA InPktsUnusedSA
                           0           1200000               0             0      960             0          3              0                0              0
        0: PN 961, state on, SSCI 2, key 02000000000000000000000000000000
    stats: InPktsOK InPktsInvalid InPktsNotValid InPktsNotUsingSA InPktsUnusedSA
                 900             0              0                0              0
        1: PN 61, state on, SSCI 2, key 03000000000000000000000000000000
    stats: InPktsOK InPktsInvalid InPktsNotValid InPktsNotUsingSA InPktsUnusedSA
                  60             0              0                0              0
`
	st, err := parseMACsecShow(out)
	require.NoError(t, err)
	for k, v := range map[string]uint64{
		"secy.InPktsNoSCI": 2, "txsc.OutPktsEncrypted": 917, "txsa0.PN": 918, "txsa0.OutPktsEncrypted": 917,
		"rxsc.InPktsOK": 960, "rxsc.InPktsLate": 3, "rxsa0.InPktsOK": 900, "rxsa1.InPktsOK": 60, "rxsa1.PN": 61,
	} {
		assert.Equal(t, v, st[k], k)
	}
	_, err = parseMACsecShow("stats: A B\n 1\n")
	assert.Error(t, err)
}
