package lab

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/secylab/secylab/ipsec"
	"github.com/secylab/secylab/ipsec/gateway"
	"github.com/secylab/secylab/topology"
)

// tunnelEnd is one running gateway of an IPsec tunnel.
type tunnelEnd struct {
	tunnel *topology.Tunnel
	end    int
	gw     *gateway.Gateway
	cfg    gateway.Config
}

// tunnelKeys are the two SAs of a tunnel: index 0 carries end 0 → end 1.
type tunnelKeys [2]struct {
	spi    uint32
	keymat []byte
}

func newTunnelKeys(keyBits int) (tunnelKeys, error) {
	var k tunnelKeys
	for i := range k {
		var spi [4]byte
		if _, err := rand.Read(spi[:]); err != nil {
			return k, err
		}
		k[i].spi = binary.BigEndian.Uint32(spi[:]) | 0x1000 // never a reserved SPI (< 256)
		k[i].keymat = make([]byte, keyBits/8+4)             // key || 4-octet salt (RFC 4106)
		if _, err := rand.Read(k[i].keymat); err != nil {
			return k, err
		}
	}
	return k, nil
}

// startTunnels keys every tunnel of the topology and starts its gateways.
func (l *Lab) startTunnels() error {
	for _, tu := range l.topo.Tunnels {
		keys, err := newTunnelKeys(tu.KeyBits)
		if err != nil {
			return err
		}
		for e := range tu.Ends {
			te, err := l.openGateway(tu, e, keys)
			if err != nil {
				return err
			}
			l.tunnels = append(l.tunnels, te)
		}
	}
	return nil
}

func (l *Lab) openGateway(tu *topology.Tunnel, e int, keys tunnelKeys) (*tunnelEnd, error) {
	me, peer := tu.Ends[e], tu.Ends[1-e]
	sa := func(k int) ipsec.SAConfig {
		return ipsec.SAConfig{SPI: keys[k].spi, KEYMAT: keys[k].keymat, ESN: tu.ESN, ReplayWindow: tu.ReplayWindow}
	}
	cfg := gateway.Config{
		Namespace: topology.NamespaceName(l.topo.Name, me.Node), Backend: tu.Backend,
		Local: me.Outer, Remote: peer.Outer, LocalPrefixes: me.Protects, RemotePrefixes: peer.Protects,
		Out: sa(e), In: sa(1 - e), TUNName: tu.Name, MSS: tu.MSS,
		Logger: l.cfg.Logger.With("tunnel", tu.Name, "gateway", me.Node),
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("tunnel %s, %s: %w", tu.Name, me.Node, err)
	}
	l.cfg.Logger.Info("IPsec gateway", "tunnel", tu.Name, "node", me.Node, "backend", gw.Backend().Name(), "why", gw.Reason())
	return &tunnelEnd{tunnel: tu, end: e, gw: gw, cfg: cfg}, nil
}

// TunnelStatus is a gateway's state for display: no key material.
type TunnelStatus struct {
	Tunnel string
	Node   string
	gateway.Status
}

func (l *Lab) tunnelStatus() []TunnelStatus {
	var ts []TunnelStatus
	for _, te := range l.tunnels {
		st, err := te.gw.Status()
		if err != nil {
			st.Reason = err.Error()
		}
		ts = append(ts, TunnelStatus{Tunnel: te.tunnel.Name, Node: te.tunnel.Ends[te.end].Node, Status: st})
	}
	return ts
}

// RekeyTunnel gives a tunnel fresh keys (same SPIs): on both gateways
// (node ""), the same keys, as a coordinated change; or on one only, which
// keeps the old keys on the other: a mismatch, and every packet between
// them is dropped.
func (l *Lab) RekeyTunnel(tunnel, nodeName string) error {
	var tu *topology.Tunnel
	for _, t := range l.topo.Tunnels {
		if t.Name == tunnel {
			tu = t
		}
	}
	if tu == nil {
		return fmt.Errorf("no tunnel %q in lab %s", tunnel, l.topo.Name)
	}
	keys, err := newTunnelKeys(tu.KeyBits)
	if err != nil {
		return err
	}
	done := 0
	for _, te := range l.tunnels {
		if te.tunnel != tu || nodeName != "" && tu.Ends[te.end].Node != nodeName {
			continue
		}
		done++
		b := te.gw.Backend()
		states, err := b.States()
		if err != nil {
			return err
		}
		for _, st := range states {
			cfg := st.Config
			// keys[0] carries end 0 → end 1: end 0's out SA, end 1's in SA.
			k := te.end
			if cfg.Dir == ipsec.DirIn {
				k = 1 - te.end
			}
			if err := b.DelSA(cfg.SPI, cfg.Dst); err != nil {
				return err
			}
			cfg.KEYMAT = keys[k].keymat
			if err := b.AddSA(cfg); err != nil {
				return err
			}
		}
	}
	if done == 0 {
		return fmt.Errorf("tunnel %s has no gateway on node %q", tunnel, nodeName)
	}
	return nil
}

// gatewayOn returns the gateway of the lab on node.
func (l *Lab) gatewayOn(nodeName string) (*tunnelEnd, error) {
	for _, te := range l.tunnels {
		if te.tunnel.Ends[te.end].Node == nodeName {
			return te, nil
		}
	}
	return nil, fmt.Errorf("node %q is no IPsec gateway of lab %s", nodeName, l.topo.Name)
}

// SAChange adds or deletes a manually keyed SA on a gateway, as
// ip xfrm state add|delete does. The key is read from KeyFile by the lab
// process: it never travels over the control socket.
type SAChange struct {
	Delete       bool   `json:"delete,omitempty"`
	SPI          uint32 `json:"spi"`
	Src          string `json:"src,omitempty"`
	Dst          string `json:"dst,omitempty"`
	Dir          string `json:"dir,omitempty"` // in or out
	KeyFile      string `json:"keyFile,omitempty"`
	ESN          bool   `json:"esn,omitempty"`
	ReplayWindow int    `json:"replayWindow,omitempty"`
}

// ChangeSA applies c to the gateway on nodeName.
func (l *Lab) ChangeSA(nodeName string, c SAChange) error {
	te, err := l.gatewayOn(nodeName)
	if err != nil {
		return err
	}
	b := te.gw.Backend()
	if c.Delete {
		dst, err := netip.ParseAddr(c.Dst)
		if err != nil {
			return fmt.Errorf("dst %q: %w", c.Dst, err)
		}
		return b.DelSA(c.SPI, dst)
	}
	cfg := ipsec.SAConfig{SPI: c.SPI, ESN: c.ESN, ReplayWindow: c.ReplayWindow, ReqID: 1, Mode: ipsec.ModeTunnel,
		Encap: ipsec.EncapUDP, EncapSrcPort: ipsec.UDPEncapPort, EncapDstPort: ipsec.UDPEncapPort}
	if cfg.Src, err = netip.ParseAddr(c.Src); err != nil {
		return fmt.Errorf("src %q: %w", c.Src, err)
	}
	if cfg.Dst, err = netip.ParseAddr(c.Dst); err != nil {
		return fmt.Errorf("dst %q: %w", c.Dst, err)
	}
	switch c.Dir {
	case "in":
		cfg.Dir = ipsec.DirIn
	case "out":
		cfg.Dir = ipsec.DirOut
	default:
		return fmt.Errorf("dir %q: want in or out", c.Dir)
	}
	if cfg.KEYMAT, err = readKeymat(c.KeyFile); err != nil {
		return err
	}
	defer clear(cfg.KEYMAT)
	return b.AddSA(cfg)
}

// readKeymat reads KEYMAT (key || salt) as hex from a 0600 file.
func readKeymat(file string) ([]byte, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key file %s is mode %#o: keys must be readable by their owner only (chmod 600)", file, fi.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(b)), "0x")))
	clear(b)
	if err != nil {
		return nil, fmt.Errorf("key file %s: KEYMAT must be hex (key || 4-octet salt)", file)
	}
	return k, nil
}
