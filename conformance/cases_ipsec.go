package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/ipsec"
	"github.com/secylab/secylab/ipsec/gateway"
)

// The IPsec suite: a manually keyed ESP tunnel (AES-GCM, RFC 4106, in UDP
// on port 4500 as secylab's gateways use it) between secylab's userspace
// gateway in namespace "u" and, in namespace "k", the kernel's xfrm
// programmed with iproute2, or secylab's own kernel backend (xfrm through
// netlink). Protected hosts: 10.1.0.1 behind u, 10.2.0.1 behind k.
var (
	gwU, gwK     = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	hostU, hostK = netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("10.2.0.1")
	netU, netK   = netip.MustParsePrefix("10.1.0.0/24"), netip.MustParsePrefix("10.2.0.0/24")
)

const (
	spiUtoK = 0x1001
	spiKtoU = 0x2002
)

func ipsecCases() []testCase {
	var cs []testCase
	for _, keyLen := range []int{16, 32} {
		for _, esn := range []bool{false, true} {
			name := fmt.Sprintf("aes-gcm-%d", keyLen*8)
			if esn {
				name += "-esn"
			}
			cs = append(cs, testCase{SuiteIPsec, name + "-userspace-vs-iproute2-xfrm", func(e *env) (string, error) {
				return ipsecCase(e, keyLen, esn, false)
			}})
		}
	}
	return append(cs,
		testCase{SuiteIPsec, "aes-gcm-128-userspace-vs-secylab-kernel-backend", func(e *env) (string, error) {
			return ipsecCase(e, 16, false, true)
		}},
		testCase{SuiteIPsec, "aes-gcm-256-esn-userspace-vs-secylab-kernel-backend", func(e *env) (string, error) {
			return ipsecCase(e, 32, true, true)
		}},
	)
}

func keymat(keyLen int) []byte {
	k := make([]byte, keyLen+4) // key || salt
	rand.Read(k)
	return k
}

// tunnelPair makes the suite's two namespaces, u and k, joined by a veth
// "wire" with the outer addresses, each with its protected host address
// on lo; staticARP also fixes each side's neighbour entry (manual keying:
// no frame before the first ESP one).
func (e *env) tunnelPair(staticARP bool) (nsU, nsK string, err error) {
	if nsU, err = e.namespace("u"); err != nil {
		return "", "", err
	}
	if nsK, err = e.namespace("k"); err != nil {
		return "", "", err
	}
	if err := e.veth(nsU, nsK, "wire", userMAC, kernMAC); err != nil {
		return "", "", err
	}
	for _, s := range []struct {
		ns        string
		gw, host  netip.Addr
		peer, mac string
	}{{nsU, gwU, hostU, gwK.String(), kernMAC}, {nsK, gwK, hostK, gwU.String(), userMAC}} {
		cmds := [][]string{{"addr", "add", s.gw.String() + "/24", "dev", "wire"}, {"addr", "add", s.host.String() + "/32", "dev", "lo"}}
		if staticARP {
			cmds = append(cmds, []string{"neigh", "replace", s.peer, "lladdr", s.mac, "dev", "wire", "nud", "permanent"})
		}
		if err := e.all(s.ns, cmds...); err != nil {
			return "", "", err
		}
	}
	return nsU, nsK, nil
}

func ipsecCase(e *env, keyLen int, esn, ourKernelBackend bool) (string, error) {
	nsU, nsK, err := e.tunnelPair(true)
	if err != nil {
		return "", err
	}
	kUtoK, kKtoU := keymat(keyLen), keymat(keyLen)
	quiet := slog.New(slog.DiscardHandler)

	user, err := gateway.New(gateway.Config{
		Namespace: nsU, Backend: ipsec.BackendUserspace, Local: gwU, Remote: gwK,
		LocalPrefixes: []netip.Prefix{netU}, RemotePrefixes: []netip.Prefix{netK},
		Out:      ipsec.SAConfig{SPI: spiUtoK, KEYMAT: kUtoK, ESN: esn},
		In:       ipsec.SAConfig{SPI: spiKtoU, KEYMAT: kKtoU, ESN: esn, ReplayWindow: 64},
		RouteSrc: hostU, Logger: quiet,
	})
	if err != nil {
		return "", fmt.Errorf("userspace gateway: %w", err)
	}
	runGateway(e, user)

	peer := "the kernel's xfrm (configured with iproute2)"
	if ourKernelBackend {
		peer = "secylab's kernel backend (xfrm through netlink)"
		k, err := gateway.New(gateway.Config{
			Namespace: nsK, Backend: ipsec.BackendKernel, Local: gwK, Remote: gwU,
			LocalPrefixes: []netip.Prefix{netK}, RemotePrefixes: []netip.Prefix{netU},
			Out:      ipsec.SAConfig{SPI: spiKtoU, KEYMAT: kKtoU, ESN: esn},
			In:       ipsec.SAConfig{SPI: spiUtoK, KEYMAT: kUtoK, ESN: esn, ReplayWindow: 64},
			RouteSrc: hostK, Logger: quiet,
		})
		if err != nil {
			return "", fmt.Errorf("kernel gateway: %w", err)
		}
		runGateway(e, k)
	} else if err := iprouteXfrm(e, nsK, kUtoK, kKtoU, esn); err != nil {
		return "", err
	}

	if err := pingBoth(nsU, hostU.String(), nsK, hostK.String(), 3); err != nil {
		return "", ipsecExplain(e, nsK, user, err)
	}
	if err := (exchange{n: e.opts.Transfer}).run(e.ctx, nsK, hostK.String(), nsU); err != nil {
		return "", ipsecExplain(e, nsK, user, err)
	}
	out, err := e.in(nsK, "-s", "xfrm", "state")
	if err != nil {
		return "", err
	}
	if esn && !strings.Contains(out, "esn") {
		return "", fmt.Errorf("the kernel's states have no ESN flag:\n%s", out)
	}
	st, _ := user.Status()
	var rx, tx uint64
	if d := st.DataPath; d != nil {
		rx, tx = d.RxPackets, d.TxPackets
	}
	return fmt.Sprintf("tunnel, ESP in UDP, %d-bit key, ESN %v, vs %s: ping 3+3, TCP %d KiB each way sha256 ok; our ESP packets sent %d, received %d",
		keyLen*8, esn, peer, e.opts.Transfer>>10, tx, rx), nil
}

func runGateway(e *env, g *gateway.Gateway) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.Run(ctx)
	}()
	e.onClose(func() { cancel(); <-done })
}

// iprouteXfrm programs the kernel's side of the tunnel with ip xfrm, as an
// administrator would, and opens the UDP socket on port 4500 that makes
// the kernel decapsulate ESP in UDP (iproute2 cannot make one).
func iprouteXfrm(e *env, ns string, kUtoK, kKtoU []byte, esn bool) error {
	replay := []string{"replay-window", "64"}
	if esn {
		replay = []string{"flag", "esn", "replay-window", "64"}
	}
	state := func(src, dst netip.Addr, spi uint32, km []byte) []string {
		args := []string{"xfrm", "state", "add", "src", src.String(), "dst", dst.String(), "proto", "esp",
			"spi", fmt.Sprintf("%#x", spi), "reqid", "1", "mode", "tunnel"}
		args = append(args, replay...)
		return append(args, "aead", "rfc4106(gcm(aes))", "0x"+hex.EncodeToString(km), "128",
			"encap", "espinudp", "4500", "4500", "0.0.0.0")
	}
	policy := func(src, dst netip.Prefix, dir string, tsrc, tdst netip.Addr) []string {
		return []string{"xfrm", "policy", "add", "src", src.String(), "dst", dst.String(), "dir", dir,
			"tmpl", "src", tsrc.String(), "dst", tdst.String(), "proto", "esp", "reqid", "1", "mode", "tunnel"}
	}
	err := e.all(ns,
		state(gwU, gwK, spiUtoK, kUtoK),
		state(gwK, gwU, spiKtoU, kKtoU),
		policy(netK, netU, "out", gwK, gwU),
		policy(netU, netK, "in", gwU, gwK),
		policy(netU, netK, "fwd", gwU, gwK),
		[]string{"route", "add", netU.String(), "via", gwU.String(), "src", hostK.String()})
	if err != nil {
		return err
	}
	return netnsx.Do(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		e.onClose(func() { unix.Close(fd) })
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_ENCAP, unix.UDP_ENCAP_ESPINUDP); err != nil {
			return fmt.Errorf("UDP_ENCAP: %w", err)
		}
		return unix.Bind(fd, &unix.SockaddrInet4{Port: 4500, Addr: gwK.As4()})
	})
}

func ipsecExplain(e *env, ns string, user *gateway.Gateway, err error) error {
	out, _ := e.in(ns, "-s", "xfrm", "state")
	st, _ := user.Status()
	var d gateway.DataPathStats
	if st.DataPath != nil {
		d = *st.DataPath
	}
	return fmt.Errorf("%w\n  ours: %+v\n  kernel:\n%s", err, d, out)
}
