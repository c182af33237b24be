package xfrm

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"

	"github.com/secylab/secylab/ipsec"
)

// ProbeResult says which backend a machine can run and why.
type ProbeResult struct {
	Kernel bool   // the kernel accepted an AES-GCM ESP state
	Reason string // a sentence for the user
	Err    error  // what the kernel said, when it refused
}

// Backend is the name of the backend the probe selects.
func (r ProbeResult) Backend() string {
	if r.Kernel {
		return ipsec.BackendKernel
	}
	return ipsec.BackendUserspace
}

var probeSeq atomic.Int32

// Probe really tries the kernel: it creates a scratch namespace, installs
// an AES-GCM ESP state there through netlink, and deletes the namespace.
// Where the kernel lacks ESP or GCM (CONFIG_INET_ESP, CONFIG_CRYPTO_GCM)
// the state is refused and the userspace backend is the one to use.
func Probe() ProbeResult {
	ns := fmt.Sprintf("sl-xfrmprobe-%d-%d", os.Getpid()%100000, probeSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		err = fmt.Errorf("ip netns add %s: %w: %s", ns, err, strings.TrimSpace(string(out)))
		return ProbeResult{Err: err, Reason: fmt.Sprintf("cannot probe kernel xfrm (%v); using userspace ESP", err)}
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	k, err := New(ns)
	if err != nil {
		return ProbeResult{Err: err, Reason: fmt.Sprintf("kernel xfrm unreachable: %v; using userspace ESP", err)}
	}
	defer k.Close()
	keymat := make([]byte, 36)
	rand.Read(keymat)
	err = k.AddSA(ipsec.SAConfig{
		SPI: 0x5ec1ab, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"),
		ReqID: 1, Dir: ipsec.DirOut, KEYMAT: keymat, ReplayWindow: 64, ESN: true,
	})
	clear(keymat)
	if err != nil {
		return ProbeResult{Err: err, Reason: fmt.Sprintf("kernel xfrm refused %s: %v; using userspace ESP", aeadName, unwrapNetlink(err))}
	}
	return ProbeResult{Kernel: true, Reason: fmt.Sprintf("kernel xfrm accepted %s with ESN in a scratch namespace; using kernel xfrm", aeadName)}
}

// unwrapNetlink keeps the kernel's own words from an AddSA error.
func unwrapNetlink(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, aeadName+": "); i >= 0 {
		return s[i+len(aeadName)+2:]
	}
	return s
}
