package bench

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/nettest"
)

// TestAnchorsCarryTraffic starts the anchors bench lab measures — strongSwan's
// charon with kernel-libipsec and wireguard-go, each where installed —
// between their pair of namespaces and pings through each tunnel; the
// namespaces and daemons are gone afterwards.
func TestAnchorsCarryTraffic(t *testing.T) {
	nettest.NeedRoot(t)
	wg, _ := exec.LookPath("wireguard-go")
	charon := "/usr/lib/ipsec/charon"
	if _, err := os.Stat(charon); err != nil {
		charon = ""
	}
	if wg == "" && charon == "" {
		t.Skip("neither wireguard-go (.ci/setup --wireguard-go) nor strongSwan's charon (.ci/setup --tests) is installed")
	}
	ctx := context.Background()
	prefix := "sl-anctest-" + nettest.UniqueID()
	an, err := newAnchors(ctx, prefix, t.TempDir())
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			an.close()
		}
	})
	for _, a := range []struct {
		name, bin string
		start     func(context.Context, string) (LabPath, error)
	}{{"strongSwan's charon", charon, an.startCharon}, {"wireguard-go", wg, an.startWireGuard}} {
		if a.bin == "" {
			t.Logf("%s is not installed: not tried", a.name)
			continue
		}
		p, err := a.start(ctx, a.bin)
		require.NoError(t, err, a.bin)
		require.True(t, p.Anchor)
		require.NoError(t, nettest.Ping(an.a, p.Addr, 3), p.Name)
	}
	require.NoError(t, an.close())
	closed = true
	for _, ns := range []string{an.a, an.b} {
		_, err := os.Stat("/run/netns/" + ns)
		require.True(t, os.IsNotExist(err), "namespace %s left behind", ns)
	}
}
