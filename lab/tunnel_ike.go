package lab

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/secylab/secylab/internal/secret"
	"github.com/secylab/secylab/ipsec"
	"github.com/secylab/secylab/ipsec/gateway"
	"github.com/secylab/secylab/ipsec/ike"
	"github.com/secylab/secylab/topology"
)

// IKE timing of the lab's gateways: an initiator that lost its IKE SA
// starts a new one after ikeReconnect; Azure's gateway in Default mode
// waits azureInitiateDelay for the peer to start first and reconnects
// later than the peer, so that the two rarely start IKE SAs at once.
const (
	ikeReconnect       = 2 * time.Second
	azureInitiateDelay = time.Second
	azureReconnect     = 5 * time.Second
)

// startIKETunnel starts the gateways of an IKE-keyed tunnel: one
// gateway.IKEGateway per end the lab runs (an end keyed by its node's own
// IKE daemon, TunnelEnd.OwnIKE, is the user's).
func (l *Lab) startIKETunnel(tu *topology.Tunnel) error {
	psk, err := l.sharedKey(tu)
	if err != nil {
		return fmt.Errorf("tunnel %s: sharedKey: %w", tu.Name, err)
	}
	for e := range tu.Ends {
		if tu.Ends[e].OwnIKE {
			if tu.IKE.SharedKey.Generate && l.topo.Node(tu.Ends[e].Node).Kind == topology.KindStrongswan {
				if err := l.writeSwanSecrets(tu, e, psk); err != nil {
					return fmt.Errorf("tunnel %s: %s's shared key: %w", tu.Name, tu.Ends[e].Node, err)
				}
			}
			continue
		}
		key := psk
		if d := tu.Ends[e].Device; d != nil && d.GenerateKey {
			// The device's own key, not the connection's: a PSK mismatch.
			if key, err = generateKey(); err != nil {
				return err
			}
		}
		te, err := l.openIKEGateway(tu, e, key)
		if err != nil {
			return err
		}
		l.tunnels = append(l.tunnels, te)
	}
	return nil
}

// SharedKeyFile is where the lab writes a tunnel's generated shared key
// (0600), for a peer the user configures (e.g. a strongswan node's
// swanctl.conf): the lab's key directory.
func SharedKeyFile(keyDir, tunnel string) string { return filepath.Join(keyDir, tunnel+".psk") }

// sharedKey reads the tunnel's shared key file, or makes one (32
// printable characters from 192 random bits) and, with a key directory,
// writes it there 0600.
func (l *Lab) sharedKey(tu *topology.Tunnel) ([]byte, error) {
	if !tu.IKE.SharedKey.Generate {
		return tu.IKE.ReadSharedKey()
	}
	k, err := generateKey()
	if err != nil {
		return nil, err
	}
	if l.cfg.KeyDir != "" {
		// A lab without MACsec links may not have made its key directory.
		if err := os.MkdirAll(l.cfg.KeyDir, 0o700); err != nil {
			return nil, err
		}
		err := secret.WriteBytes(SharedKeyFile(l.cfg.KeyDir, tu.Name), append(k[:len(k):len(k)], '\n'))
		if err != nil {
			return nil, err
		}
	}
	return k, nil
}

// generateKey makes a shared key: 32 printable characters from 192
// random bits.
func generateKey() ([]byte, error) {
	raw := make([]byte, 24)
	defer clear(raw)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	return []byte(base64.RawURLEncoding.EncodeToString(raw)), nil
}

// ikeRole is how an end of an IKE-keyed tunnel starts IKE SAs, from
// Azure's connectionMode (which the Azure gateway's end follows; the
// other end does what it must for the mode to work).
func ikeRole(tu *topology.Tunnel, e int, azure, peerAzure bool) (initiate, noRespond bool, delay, reconnect time.Duration) {
	mode := tu.IKE.Mode
	switch {
	case azure && mode == topology.ModeDefault && (!peerAzure || e == 1):
		return true, false, azureInitiateDelay, azureReconnect
	case azure:
		return mode != topology.ModeResponderOnly, mode == topology.ModeInitiatorOnly, 0, ikeReconnect
	case peerAzure:
		return mode != topology.ModeInitiatorOnly, false, 0, ikeReconnect
	}
	return e == 0, false, 0, ikeReconnect // two secylab gateways: end 0 starts
}

func (l *Lab) openIKEGateway(tu *topology.Tunnel, e int, psk []byte) (*tunnelEnd, error) {
	me := tu.Ends[e]
	gc := IKEGatewayConfig(l.topo, tu, e, psk)
	gc.Gateway.Logger = l.cfg.Logger.With("tunnel", tu.Name, "gateway", me.Node)
	cfg, k, dpd := gc.Gateway, tu.IKE, gc.DeadAfter
	g, err := gateway.NewIKE(gc)
	if err != nil {
		return nil, fmt.Errorf("tunnel %s, %s: %w", tu.Name, me.Node, err)
	}
	l.cfg.Logger.Info("IKE gateway", "tunnel", tu.Name, "node", me.Node, "initiate", gc.Initiate, "respond", !gc.NoRespond,
		"policy", policyName(k), "dpdTimeout", dpd)
	return &tunnelEnd{tunnel: tu, end: e, gw: g.Gateway(), cfg: cfg, ike: g}, nil
}

// IKEGatewayConfig is the IKE gateway the lab runs for end e of tu (an
// IKE-keyed tunnel of t) with the shared key psk: Azure's VPN gateway as
// its connection's policy, connectionMode and dpdTimeoutSeconds make it,
// or secylab's on-premises device. The conformance suite runs the same
// against other implementations. No logger is set.
func IKEGatewayConfig(t *topology.Topology, tu *topology.Tunnel, e int, psk []byte) gateway.IKEConfig {
	me, peer := tu.Ends[e], tu.Ends[1-e]
	k := tu.IKE
	azure := t.Node(me.Node).Kind == topology.KindVPNGateway
	peerAzure := t.Node(peer.Node).Kind == topology.KindVPNGateway
	cfg := gateway.Config{
		Namespace: topology.NamespaceName(t.Name, me.Node), Backend: ipsec.BackendUserspace,
		Local: me.Outer, Remote: peer.Outer, LocalPrefixes: me.Protects, RemotePrefixes: peer.Protects,
		TUNName: tu.Name, MSS: tu.MSS,
	}
	if k.EnableBGP && me.BGPAddress.IsValid() && peer.BGPAddress.IsValid() {
		// BGP over the tunnel: the TUN holds this end's BGP address, routes
		// the peer's; BGP routes the protected prefixes.
		lp, rp := netip.PrefixFrom(me.BGPAddress, 32), netip.PrefixFrom(peer.BGPAddress, 32)
		cfg.LocalPrefixes = append(slices.Clone(me.Protects), lp)
		cfg.RemotePrefixes = append(slices.Clone(peer.Protects), rp)
		cfg.Routes, cfg.TUNAddress = []netip.Prefix{rp}, me.BGPAddress
	}
	ic := ike.Config{PSK: psk, ForceEncap: true, IKE: ike.AzureDefaultIKE(), ESP: ike.AzureDefaultESP()}
	child, childKB := time.Duration(ike.AzureChildLifetimeSeconds)*time.Second, int64(ike.AzureChildLifetimeKB)
	if k.Policy != nil {
		ic.IKE, ic.ESP = k.IKESuites, k.ESPSuites
		child, childKB = time.Duration(k.Policy.SALifeTimeSeconds)*time.Second, k.Policy.SADataSizeKilobytes
	}
	if d := me.Device; d != nil && d.Policy != nil {
		// The on-premises device's own proposal, where it differs.
		ic.IKE, ic.ESP = d.IKESuites, d.ESPSuites
		child, childKB = time.Duration(d.Policy.SALifeTimeSeconds)*time.Second, d.Policy.SADataSizeKilobytes
	}
	if k.PolicyBasedTS {
		ic.LocalTS, ic.RemoteTS = prefixTS(cfg.LocalPrefixes), prefixTS(cfg.RemotePrefixes)
	}
	dpd := time.Duration(k.DPDTimeoutSeconds) * time.Second
	gc := gateway.IKEConfig{Gateway: cfg, IKE: ic, DeadAfter: dpd, DPD: dpd / 3,
		ChildLifetime: child, ChildKilobytes: childKB, IKELifetime: time.Duration(ike.AzureIKELifetimeSeconds) * time.Second}
	gc.Initiate, gc.NoRespond, gc.InitiateDelay, gc.Reconnect = ikeRole(tu, e, azure, peerAzure)
	if azure && k.Policy == nil {
		gc.RespondESP = ike.AzureResponderESP()
	}
	return gc
}

func policyName(k *topology.IKE) string {
	if k.Policy == nil {
		return "Azure default"
	}
	return fmt.Sprintf("%s/%s", k.IKESuites[0], k.ESPSuites[0])
}

func prefixTS(ps []netip.Prefix) []ike.TrafficSelector {
	var ts []ike.TrafficSelector
	for _, p := range ps {
		ts = append(ts, ike.PrefixTS(p))
	}
	return ts
}
