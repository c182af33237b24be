package lab

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
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
	// ike, on an IKE-keyed tunnel, keys gw (its data plane).
	ike *gateway.IKEGateway
}

func (te *tunnelEnd) run(ctx context.Context) error {
	if te.ike != nil {
		return te.ike.Run(ctx)
	}
	return te.gw.Run(ctx)
}

func (te *tunnelEnd) close() {
	if te.ike != nil {
		te.ike.Close()
		return
	}
	te.gw.Close()
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
		if tu.IKE != nil {
			if err := l.startIKETunnel(tu); err != nil {
				return err
			}
			continue
		}
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
	Tunnel string `json:"tunnel"`
	Node   string `json:"node"`
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

// gatewayOn returns the gateway of the lab on node.
func (l *Lab) gatewayOn(nodeName string) (*tunnelEnd, error) {
	for _, te := range l.tunnels {
		if te.tunnel.Ends[te.end].Node == nodeName {
			return te, nil
		}
	}
	return nil, fmt.Errorf("node %q is no IPsec gateway of lab %s", nodeName, l.topo.Name)
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
