package xfrm

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/ipsec"
)

// Kernel is the kernel backend: SAs and policies in the xfrm SAD and SPD
// of a network namespace, programmed over netlink. The kernel carries
// the traffic; the SAs' counters are the kernel's.
type Kernel struct {
	ns string
	h  *netlink.Handle
}

var _ ipsec.Backend = (*Kernel)(nil)

// New opens a netlink handle in the namespace ("" = the caller's).
func New(ns string) (*Kernel, error) {
	var h *netlink.Handle
	var err error
	if ns == "" {
		h, err = netlink.NewHandle(unix.NETLINK_XFRM)
	} else {
		var nsh netns.NsHandle
		if nsh, err = netns.GetFromName(ns); err != nil {
			return nil, fmt.Errorf("kernel xfrm: network namespace %q: %w", ns, err)
		}
		defer nsh.Close()
		h, err = netlink.NewHandleAt(nsh, unix.NETLINK_XFRM)
	}
	if err != nil {
		return nil, fmt.Errorf("kernel xfrm in %q: netlink: %w", ns, err)
	}
	return &Kernel{ns: ns, h: h}, nil
}

// Name returns "kernel".
func (k *Kernel) Name() string { return ipsec.BackendKernel }

// Close closes the netlink handle; the states and policies stay in the
// kernel until deleted or the namespace goes.
func (k *Kernel) Close() error {
	k.h.Close()
	return nil
}

// aeadName is the kernel's name of AES-GCM for ESP (RFC 4106).
const aeadName = "rfc4106(gcm(aes))"

func ip(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: ip(p.Addr()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// xfrmState is the xfrm state of an SA, what
// `ip xfrm state add … aead 'rfc4106(gcm(aes))' 0x<key||salt> 128` sends.
func xfrmState(cfg ipsec.SAConfig) (*netlink.XfrmState, error) {
	if cfg.Mode == 0 {
		cfg.Mode = ipsec.ModeTunnel
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	st := &netlink.XfrmState{
		Src:          ip(cfg.Src),
		Dst:          ip(cfg.Dst),
		Proto:        netlink.XFRM_PROTO_ESP,
		Mode:         netlink.XFRM_MODE_TUNNEL,
		Spi:          int(cfg.SPI),
		Reqid:        int(cfg.ReqID),
		ReplayWindow: cfg.ReplayWindow,
		ESN:          cfg.ESN,
		Limits: netlink.XfrmStateLimits{
			PacketSoft: cfg.Limits.SoftPackets, PacketHard: cfg.Limits.HardPackets,
			ByteSoft: cfg.Limits.SoftBytes, ByteHard: cfg.Limits.HardBytes,
		},
	}
	switch cfg.Cipher {
	case ipsec.AESCBCHMACSHA1, ipsec.AESCBCHMACSHA256:
		// `… enc 'cbc(aes)' 0x<key> auth-trunc 'hmac(sha1)' 0x<key> 96`
		st.Crypt = &netlink.XfrmStateAlgo{Name: "cbc(aes)", Key: cfg.KEYMAT}
		st.Auth = &netlink.XfrmStateAlgo{Name: "hmac(sha1)", Key: cfg.AuthKey, TruncateLen: 96}
		if cfg.Cipher == ipsec.AESCBCHMACSHA256 {
			st.Auth = &netlink.XfrmStateAlgo{Name: "hmac(sha256)", Key: cfg.AuthKey, TruncateLen: 128}
		}
	default:
		// The key is the SA's own KEYMAT (key || salt); the ICV length is in bits.
		st.Aead = &netlink.XfrmStateAlgo{Name: aeadName, Key: cfg.KEYMAT, ICVLen: ipsec.ICVLen * 8}
	}
	if st.ESN && st.ReplayWindow == 0 {
		st.ReplayWindow = 32 // the library needs a bitmap with ESN; an outbound SA does not use it
	}
	if cfg.Encap == ipsec.EncapUDP {
		sp, dp := cfg.EncapSrcPort, cfg.EncapDstPort
		if sp == 0 {
			sp = ipsec.UDPEncapPort
		}
		if dp == 0 {
			dp = ipsec.UDPEncapPort
		}
		st.Encap = &netlink.XfrmStateEncap{Type: netlink.XFRM_ENCAP_ESPINUDP, SrcPort: int(sp), DstPort: int(dp), OriginalAddress: net.IPv4zero}
	}
	if cfg.InitialSN != 0 && !cfg.ESN {
		st.Replay = &netlink.XfrmReplayState{}
		if cfg.Dir == ipsec.DirOut {
			st.Replay.OSeq = uint32(cfg.InitialSN)
		} else {
			st.Replay.Seq = uint32(cfg.InitialSN)
		}
	}
	return st, nil
}

// xfrmPolicy is the xfrm policy of an SPD entry, what
// `ip xfrm policy add src … dst … dir out tmpl src A dst B proto esp reqid 1 mode tunnel` sends.
func xfrmPolicy(p ipsec.Policy) *netlink.XfrmPolicy {
	xp := &netlink.XfrmPolicy{
		Src:      ipNet(p.Selector.Src),
		Dst:      ipNet(p.Selector.Dst),
		Proto:    netlink.Proto(p.Selector.Proto),
		SrcPort:  int(p.Selector.SrcPort),
		DstPort:  int(p.Selector.DstPort),
		Priority: int(p.Priority),
	}
	switch p.Dir {
	case ipsec.DirIn:
		xp.Dir = netlink.XFRM_DIR_IN
	case ipsec.DirOut:
		xp.Dir = netlink.XFRM_DIR_OUT
	case ipsec.DirFwd:
		xp.Dir = netlink.XFRM_DIR_FWD
	}
	switch p.Action {
	case ipsec.ActionDiscard:
		xp.Action = netlink.XFRM_POLICY_BLOCK
	case ipsec.ActionProtect:
		xp.Action = netlink.XFRM_POLICY_ALLOW
		xp.Tmpls = []netlink.XfrmPolicyTmpl{{
			Src: ip(p.Tmpl.Src), Dst: ip(p.Tmpl.Dst),
			Proto: netlink.XFRM_PROTO_ESP, Mode: netlink.XFRM_MODE_TUNNEL, Reqid: int(p.Tmpl.ReqID),
		}}
	default:
		xp.Action = netlink.XFRM_POLICY_ALLOW // no template: in clear
	}
	return xp
}

// AddSA installs the SA in the kernel's SAD.
func (k *Kernel) AddSA(cfg ipsec.SAConfig) error {
	st, err := xfrmState(cfg)
	if err != nil {
		return err
	}
	if err := k.h.XfrmStateAdd(st); err != nil {
		return fmt.Errorf("kernel xfrm in %q: add SA %#x %v→%v %s: %w", k.ns, cfg.SPI, cfg.Src, cfg.Dst, aeadName, err)
	}
	return nil
}

// DelSA removes an SA from the kernel's SAD.
func (k *Kernel) DelSA(spi uint32, dst netip.Addr) error {
	st := &netlink.XfrmState{Dst: ip(dst), Proto: netlink.XFRM_PROTO_ESP, Spi: int(spi)}
	if err := k.h.XfrmStateDel(st); err != nil {
		return fmt.Errorf("kernel xfrm in %q: delete SA %#x to %v: %w", k.ns, spi, dst, err)
	}
	return nil
}

// AddPolicy installs a policy in the kernel's SPD.
func (k *Kernel) AddPolicy(p ipsec.Policy) error {
	if err := k.h.XfrmPolicyAdd(xfrmPolicy(p)); err != nil {
		return fmt.Errorf("kernel xfrm in %q: add policy %v %v: %w", k.ns, p.Selector, p.Dir, err)
	}
	return nil
}

// DelPolicy removes a policy from the kernel's SPD.
func (k *Kernel) DelPolicy(sel ipsec.Selector, dir ipsec.Direction) error {
	if err := k.h.XfrmPolicyDel(xfrmPolicy(ipsec.Policy{Selector: sel, Dir: dir})); err != nil {
		return fmt.Errorf("kernel xfrm in %q: delete policy %v %v: %w", k.ns, sel, dir, err)
	}
	return nil
}

// States lists the kernel's ESP states with their counters.
func (k *Kernel) States() ([]ipsec.State, error) {
	xs, err := k.h.XfrmStateList(netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("kernel xfrm in %q: list states: %w", k.ns, err)
	}
	var st []ipsec.State
	for _, x := range xs {
		if x.Proto != netlink.XFRM_PROTO_ESP {
			continue
		}
		st = append(st, stateFromXfrm(&x))
	}
	return st, nil
}

func stateFromXfrm(x *netlink.XfrmState) ipsec.State {
	src, _ := netip.AddrFromSlice(x.Src)
	dst, _ := netip.AddrFromSlice(x.Dst)
	cfg := ipsec.SAConfig{
		SPI: uint32(x.Spi), Src: src.Unmap(), Dst: dst.Unmap(), ReqID: uint32(x.Reqid), Mode: ipsec.ModeTunnel,
		ReplayWindow: x.ReplayWindow, ESN: x.ESN,
		Limits: ipsec.Limits{SoftPackets: x.Limits.PacketSoft, HardPackets: x.Limits.PacketHard, SoftBytes: x.Limits.ByteSoft, HardBytes: x.Limits.ByteHard},
	}
	if x.Encap != nil {
		cfg.Encap, cfg.EncapSrcPort, cfg.EncapDstPort = ipsec.EncapUDP, uint16(x.Encap.SrcPort), uint16(x.Encap.DstPort)
	}
	s := ipsec.State{Config: cfg, Stats: ipsec.SAStats{
		Packets: x.Statistics.Packets, Bytes: x.Statistics.Bytes,
		ReplayWindow: uint64(x.Statistics.ReplayWindow), Replay: uint64(x.Statistics.Replay), IntegrityFailed: uint64(x.Statistics.Failed),
	}}
	if x.Aead != nil {
		s.Fingerprint = ipsec.Fingerprint(x.Aead.Key)
	}
	if x.Crypt != nil && x.Auth != nil {
		s.Config.Cipher = ipsec.AESCBCHMACSHA1
		if x.Auth.Name == "hmac(sha256)" {
			s.Config.Cipher = ipsec.AESCBCHMACSHA256
		}
		s.Fingerprint = ipsec.Fingerprint(append(append([]byte(nil), x.Crypt.Key...), x.Auth.Key...))
	}
	if x.Replay != nil {
		s.SN = uint64(max(x.Replay.OSeq, x.Replay.Seq))
	}
	return s
}

// Policies lists the kernel's policies.
func (k *Kernel) Policies() ([]ipsec.Policy, error) {
	xs, err := k.h.XfrmPolicyList(netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("kernel xfrm in %q: list policies: %w", k.ns, err)
	}
	var ps []ipsec.Policy
	for _, x := range xs {
		ps = append(ps, policyFromXfrm(&x))
	}
	return ps, nil
}

func prefix(n *net.IPNet) netip.Prefix {
	if n == nil {
		return netip.Prefix{}
	}
	a, _ := netip.AddrFromSlice(n.IP)
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits)
}

func policyFromXfrm(x *netlink.XfrmPolicy) ipsec.Policy {
	p := ipsec.Policy{
		Selector: ipsec.Selector{Src: prefix(x.Src), Dst: prefix(x.Dst), Proto: uint8(x.Proto), SrcPort: uint16(x.SrcPort), DstPort: uint16(x.DstPort)},
		Priority: uint32(x.Priority),
		Action:   ipsec.ActionBypass,
	}
	switch x.Dir {
	case netlink.XFRM_DIR_IN:
		p.Dir = ipsec.DirIn
	case netlink.XFRM_DIR_OUT:
		p.Dir = ipsec.DirOut
	default:
		p.Dir = ipsec.DirFwd
	}
	if x.Action == netlink.XFRM_POLICY_BLOCK {
		p.Action = ipsec.ActionDiscard
	} else if len(x.Tmpls) > 0 {
		t := x.Tmpls[0]
		src, _ := netip.AddrFromSlice(t.Src)
		dst, _ := netip.AddrFromSlice(t.Dst)
		p.Action = ipsec.ActionProtect
		p.Tmpl = ipsec.Template{Src: src.Unmap(), Dst: dst.Unmap(), Mode: ipsec.ModeTunnel, ReqID: uint32(t.Reqid)}
	}
	return p
}
