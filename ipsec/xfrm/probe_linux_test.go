package xfrm

import (
	"os"
	"strings"
	"testing"

	"github.com/secylab/secylab/ipsec"
)

func TestProbe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a scratch namespace")
	}
	r := Probe()
	t.Logf("probe: %s", r.Reason)
	if r.Kernel {
		if r.Backend() != ipsec.BackendKernel {
			t.Fatal(r.Backend())
		}
		return
	}
	if r.Err == nil || !strings.Contains(r.Reason, "kernel xfrm refused rfc4106(gcm(aes))") || !strings.HasSuffix(r.Reason, "using userspace ESP") {
		t.Fatalf("reason %q, err %v", r.Reason, r.Err)
	}
	out, _ := os.ReadDir("/run/netns")
	for _, e := range out {
		if strings.HasPrefix(e.Name(), "sl-xfrmprobe-") {
			t.Errorf("scratch namespace %s left behind", e.Name())
		}
	}
}
