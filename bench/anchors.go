package bench

import (
	"bufio"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/secylab/secylab/internal/secret"
	"github.com/secylab/secylab/ipsec/strongswan"
)

// The anchors' pair of namespaces: a veth between them (10.96.0.0/24),
// wireguard-go's tunnel on 10.96.1.0/24, strongSwan's Child SA between
// 10.96.2.1 and 10.96.2.2 (on lo: kernel-libipsec routes them to its TUN).
const (
	anchorOuterA, anchorOuterB = "10.96.0.1", "10.96.0.2"
	anchorWGA, anchorWGB       = "10.96.1.1", "10.96.1.2"
	anchorESPA, anchorESPB     = "10.96.2.1", "10.96.2.2"
)

// anchors runs the reference implementations between two namespaces of
// their own, a and b, joined by a veth as the lab's links are.
type anchors struct {
	tag   string // short, for interface names
	a, b  string // the namespaces
	dir   string
	procs []*exec.Cmd
	stops []func() // charons
}

func newAnchors(ctx context.Context, prefix, dir string) (*anchors, error) {
	tag := fmt.Sprintf("an%d", os.Getpid()%100000)
	an := &anchors{tag: tag, a: prefix + "-a", b: prefix + "-b", dir: dir}
	steps := [][]string{
		{"netns", "add", an.a}, {"netns", "add", an.b},
		{"link", "add", tag + "va", "netns", an.a, "type", "veth", "peer", "name", tag + "vb", "netns", an.b},
		{"-n", an.a, "link", "set", "lo", "up"}, {"-n", an.b, "link", "set", "lo", "up"},
		{"-n", an.a, "link", "set", tag + "va", "up"}, {"-n", an.b, "link", "set", tag + "vb", "up"},
		{"-n", an.a, "addr", "add", anchorOuterA + "/24", "dev", tag + "va"},
		{"-n", an.b, "addr", "add", anchorOuterB + "/24", "dev", tag + "vb"},
	}
	for _, s := range steps {
		if err := run(ctx, "ip", s...); err != nil {
			return nil, errors.Join(err, an.close())
		}
	}
	return an, nil
}

// close stops the anchors' daemons (by their PIDs) and removes the
// namespaces, and with them every interface in them.
func (an *anchors) close() error {
	for _, stop := range an.stops {
		stop()
	}
	for _, c := range an.procs {
		c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			c.Process.Kill()
			<-done
		}
	}
	var errs []error
	for _, ns := range []string{an.a, an.b} {
		if _, err := os.Stat("/run/netns/" + ns); err == nil {
			errs = append(errs, run(context.Background(), "ip", "netns", "del", ns))
		}
	}
	return errors.Join(errs...)
}

// start runs argv in namespace ns until close.
func (an *anchors) start(ns string, env []string, argv ...string) error {
	c := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
	c.Env = append(os.Environ(), env...)
	if err := c.Start(); err != nil {
		return err
	}
	an.procs = append(an.procs, c)
	return nil
}

// startWireGuard runs wireguard-go (bin) in both namespaces and joins them
// with a tunnel, configured over its UAPI socket with fresh keys.
func (an *anchors) startWireGuard(ctx context.Context, bin string) (LabPath, error) {
	keys := [2]*ecdh.PrivateKey{}
	for i := range keys {
		k, err := ecdh.X25519().GenerateKey(rand.Reader)
		if err != nil {
			return LabPath{}, err
		}
		keys[i] = k
	}
	ends := [2]struct{ ns, ifname, outer, peerOuter, addr, peerAddr string }{
		{an.a, an.tag + "wga", anchorOuterA, anchorOuterB, anchorWGA, anchorWGB},
		{an.b, an.tag + "wgb", anchorOuterB, anchorOuterA, anchorWGB, anchorWGA},
	}
	for i, e := range ends {
		if err := an.start(e.ns, nil, bin, "-f", e.ifname); err != nil {
			return LabPath{}, err
		}
		cfg := fmt.Sprintf("set=1\nprivate_key=%x\nlisten_port=51820\nreplace_peers=true\npublic_key=%x\nendpoint=%s:51820\nreplace_allowed_ips=true\nallowed_ip=%s/32\n\n",
			keys[i].Bytes(), keys[1-i].PublicKey().Bytes(), e.peerOuter, e.peerAddr)
		if err := wgConfigure(ctx, "/var/run/wireguard/"+e.ifname+".sock", cfg); err != nil {
			return LabPath{}, fmt.Errorf("%s: %w", e.ifname, err)
		}
		for _, s := range [][]string{{"-n", e.ns, "addr", "add", e.addr + "/24", "dev", e.ifname}, {"-n", e.ns, "link", "set", e.ifname, "up"}} {
			if err := run(ctx, "ip", s...); err != nil {
				return LabPath{}, err
			}
		}
	}
	return LabPath{Name: "wireguard-go", From: "anchor a", To: "anchor b", Addr: anchorWGB, ns: an.a, Anchor: true,
		What: "anchor: wireguard-go between two namespaces over a veth (ChaCha20-Poly1305)"}, nil
}

// wgConfigure sends one set operation to a wireguard-go UAPI socket,
// waiting for the daemon to open it, and checks the answer.
func wgConfigure(ctx context.Context, sock, cfg string) error {
	var c net.Conn
	var err error
	for try := 0; ; try++ {
		if c, err = net.Dial("unix", sock); err == nil {
			break
		}
		if try == 100 || ctx.Err() != nil {
			return fmt.Errorf("UAPI socket: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, cfg); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("UAPI answer: %w", err)
	}
	if strings.TrimSpace(line) != "errno=0" {
		return fmt.Errorf("UAPI set refused: %s", strings.TrimSpace(line))
	}
	return nil
}

// startCharon runs strongSwan's charon (bin) with kernel-libipsec in both
// namespaces, as the lab's strongswan nodes run it, and brings up an ESP
// tunnel between them (AES-GCM-256, as the lab's ipsec path, but without
// ESN, which libipsec lacks).
func (an *anchors) startCharon(ctx context.Context, bin string) (LabPath, error) {
	psk := make([]byte, 32)
	rand.Read(psk)
	ends := [2]struct{ ns, outer, peerOuter, ts, peerTS string }{
		{an.a, anchorOuterA, anchorOuterB, anchorESPA, anchorESPB},
		{an.b, anchorOuterB, anchorOuterA, anchorESPB, anchorESPA},
	}
	var first *strongswan.Daemon
	for i, e := range ends {
		dir := filepath.Join(an.dir, "charon-"+string(rune('a'+i)))
		if err := os.Mkdir(dir, 0o700); err != nil {
			return LabPath{}, err
		}
		conf := filepath.Join(dir, "swanctl.conf")
		body := strongswan.PSKConn{Name: "bench", Local: e.outer, Remote: e.peerOuter, Proposals: "aes256-sha256-modp2048", DPDDelay: "0",
			LocalTS: e.ts + "/32", RemoteTS: e.peerTS + "/32", Mode: "tunnel", ESPProposals: "aes256gcm16-noesn", PSK: psk, SecretBothIDs: true}.Swanctl()
		if err := secret.WriteBytes(conf, []byte(body)); err != nil {
			return LabPath{}, err
		}
		if err := run(ctx, "ip", "-n", e.ns, "addr", "add", e.ts+"/32", "dev", "lo"); err != nil {
			return LabPath{}, err
		}
		d, err := strongswan.Start(strongswan.Config{Namespace: e.ns, Dir: dir, Log: filepath.Join(dir, "charon.log"), Swanctl: conf, Bin: bin})
		if err != nil {
			return LabPath{}, err
		}
		an.stops = append(an.stops, d.Stop)
		if first == nil {
			first = d
		}
	}
	if out, err := first.Ctl("--initiate", "--child", "net", "--timeout", "10"); err != nil {
		return LabPath{}, fmt.Errorf("swanctl --initiate: %w: %s", err, strings.TrimSpace(out))
	}
	return LabPath{Name: "strongswan", From: "anchor a", To: "anchor b", Addr: anchorESPB, ns: an.a, Anchor: true,
		What: "anchor: strongSwan charon, kernel-libipsec, between two namespaces over a veth (AES-GCM-256, no ESN)"}, nil
}

// run runs a command to its end, its output in the error if it fails.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
