package lab

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/secylab/secylab/internal/secret"
	"github.com/secylab/secylab/ipsec/strongswan"
	"github.com/secylab/secylab/ipsec/xfrm"
	"github.com/secylab/secylab/topology"
)

// swanNode is a strongswan node's charon.
type swanNode struct {
	node   string
	daemon *strongswan.Daemon
	why    string // why this ESP backend
}

// StrongswanStatus is a strongswan node's charon for display.
type StrongswanStatus struct {
	Node string `json:"node"`
	PID  int    `json:"pid"`
	// Backend is where ESP runs: kernel (xfrm) or kernel-libipsec
	// (charon, on a TUN device, ESP in UDP 4500); Why says why.
	Backend string `json:"backend"`
	Why     string `json:"why"`
	// Swanctl is the user's swanctl.conf; Log charon's log; Env what
	// swanctl needs to reach this charon (lab exec sets it).
	Swanctl string   `json:"swanctl"`
	Log     string   `json:"log"`
	Env     []string `json:"env"`
}

// ExecArgv wraps argv, run in the node's namespace, so that swanctl
// reaches the node's charon (strongswan.Config.ExecArgv).
func (s StrongswanStatus) ExecArgv(argv []string) []string {
	return append(append([]string{"env"}, s.Env...), argv...)
}

// StrongswanConfig is the charon of node n of the lab in dir (the lab's
// directory; its log goes there beside lab.log).
func StrongswanConfig(dir string, lab string, n *topology.Node, kernel bool) strongswan.Config {
	return strongswan.Config{
		Namespace: topology.NamespaceName(lab, n.Name), Dir: filepath.Join(dir, n.Name+".strongswan"),
		Log: filepath.Join(dir, n.Name+".charon.log"), Swanctl: n.Config, Kernel: kernel,
	}
}

// swanBackend probes the kernel for ESP once: kernel xfrm when it takes
// an AES-GCM state, else kernel-libipsec.
var swanBackend = sync.OnceValues(func() (bool, string) {
	p := xfrm.Probe()
	if p.Kernel {
		return true, "kernel xfrm took an rfc4106(gcm(aes)) state in a scratch namespace: charon installs its SAs there"
	}
	why := "kernel xfrm refused an rfc4106(gcm(aes)) state in a scratch namespace"
	if p.Err != nil {
		e := p.Err.Error()
		why += " (" + e[strings.LastIndex(e, ": ")+2:] + ")"
	}
	return false, why + ": charon's kernel-libipsec runs ESP on a TUN device, always in UDP 4500"
})

// SwanBackend names the ESP backend strongswan nodes get here and why.
func SwanBackend() (string, string) {
	if k, why := swanBackend(); k {
		return "kernel", why
	}
	_, why := swanBackend()
	return "kernel-libipsec", why
}

// swanDir is the directory strongswan nodes' run directories go in: the
// lab's, or (a lab without one) a private temporary directory removed
// with the lab.
func (l *Lab) swanDir() (string, error) {
	if l.cfg.Dir != "" {
		return l.cfg.Dir, nil
	}
	if l.swanTmp == "" {
		dir, err := os.MkdirTemp("", "secylab-"+l.topo.Name+"-")
		if err != nil {
			return "", err
		}
		l.swanTmp = dir
	}
	return l.swanTmp, nil
}

// SwanSecretsFile is where the lab writes the shared key of a generated
// key's tunnel for a strongswan end (0600, in the node's run directory,
// as swanctl's secrets: its swanctl.conf includes TUNNEL.secrets).
func SwanSecretsFile(runDir, tunnel string) string { return filepath.Join(runDir, tunnel+".secrets") }

// writeSwanSecrets writes psk for the strongswan end e of tu into the
// node's run directory, before its charon starts.
func (l *Lab) writeSwanSecrets(tu *topology.Tunnel, e int, psk []byte) error {
	dir, err := l.swanDir()
	if err != nil {
		return err
	}
	me, peer := tu.Ends[e], tu.Ends[1-e]
	run := StrongswanConfig(dir, l.topo.Name, l.topo.Node(me.Node), false).Dir
	if err := os.MkdirAll(run, 0o700); err != nil {
		return err
	}
	return secret.WriteFile(SwanSecretsFile(run, tu.Name), func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "ike-%s {\n  id-1 = %s\n  id-2 = %s\n  secret = %q\n}\n", tu.Name, me.Outer, peer.Outer, psk)
		return err
	})
}

// startSwans starts every strongswan node's charon with its swanctl.conf
// (a built-in topology's, Node.ConfigData, written 0600 into the node's
// run directory first).
func (l *Lab) startSwans() error {
	for _, n := range l.topo.Nodes {
		if n.Kind != topology.KindStrongswan {
			continue
		}
		dir, err := l.swanDir()
		if err != nil {
			return err
		}
		kernel, why := swanBackend()
		c := StrongswanConfig(dir, l.topo.Name, n, kernel)
		if n.ConfigData != nil {
			if err := os.MkdirAll(c.Dir, 0o700); err != nil {
				return err
			}
			c.Swanctl = filepath.Join(c.Dir, "swanctl.conf")
			if err := os.WriteFile(c.Swanctl, n.ConfigData, 0o600); err != nil {
				return err
			}
		}
		d, err := strongswan.Start(c)
		if err != nil {
			return fmt.Errorf("%s (strongswan): %w", n.Name, err)
		}
		s := &swanNode{node: n.Name, daemon: d, why: why}
		l.swans = append(l.swans, s)
		if l.cfg.RecordProcess != nil {
			if err := l.cfg.RecordProcess("strongswan-"+n.Name, d.PID()); err != nil {
				return err
			}
		}
		l.cfg.Logger.Info("charon started", "node", n.Name, "swanctl", c.Swanctl, "pid", d.PID(), "log", d.Log, "kernel", kernel, "why", why)
	}
	return nil
}

// stopSwans stops every charon (a lab that failed to start).
func (l *Lab) stopSwans() {
	for _, s := range l.swans {
		s.daemon.Stop()
	}
	if l.swanTmp != "" {
		os.RemoveAll(l.swanTmp)
	}
}

func (l *Lab) swanStatus() []StrongswanStatus {
	var out []StrongswanStatus
	for _, s := range l.swans {
		backend := "kernel-libipsec"
		if s.daemon.Kernel {
			backend = "kernel"
		}
		out = append(out, StrongswanStatus{Node: s.node, PID: s.daemon.PID(), Backend: backend, Why: s.why,
			Swanctl: s.daemon.Swanctl, Log: s.daemon.Log, Env: s.daemon.Env()})
	}
	return out
}

// ExecArgv wraps argv, a command run in node's namespace by lab exec or a
// scenario's exec step, so that the daemon's own CLI reaches the node's
// daemon: vtysh and birdc on a frr or bird node (BGPStatus.ExecArgv),
// swanctl on a strongswan node; other nodes' argv is returned as it is.
func (s *LabStatus) ExecArgv(node string, argv []string) []string {
	for _, sw := range s.Strongswan {
		if sw.Node == node {
			return sw.ExecArgv(argv)
		}
	}
	for _, b := range s.BGP {
		if b.Node == node {
			return b.ExecArgv(argv)
		}
	}
	return argv
}
