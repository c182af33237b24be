package kmacsec

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
)

// The macsec generic netlink family (include/uapi/linux/if_macsec.h).
const (
	genlVersion = 1

	cmdGetTxSC = 0
	cmdAddRxSC = 1
	cmdDelRxSC = 2
	cmdAddTxSA = 4
	cmdDelTxSA = 5
	cmdAddRxSA = 7
	cmdDelRxSA = 8

	attrIfindex    = 1
	attrRxSCConfig = 2
	attrSAConfig   = 3
	attrTxSAList   = 5
	attrRxSCList   = 6

	rxscAttrSCI    = 1
	rxscAttrActive = 2
	rxscAttrSAList = 3

	saAttrAN     = 1
	saAttrActive = 2
	saAttrPN     = 3
	saAttrKey    = 4
	saAttrKeyID  = 5
	saAttrSSCI   = 8
	saAttrSalt   = 9

	keyIDLen = 16 // MACSEC_KEYID_LEN
)

// Validation is the macsec device's validateFrames (IFLA_MACSEC_VALIDATION).
const validateStrict = 2

// DeviceConfig is the SecY the kernel device is created with.
type DeviceConfig struct {
	Parent, Name  string // the physical interface and the macsec device
	Suite         macsec.CipherSuite
	Port          uint16 // the SCI's port: 1 as wpa_supplicant and secylab use
	IncludeSCI    bool   // send_sci; off is Azure's "SCI state Disabled"
	ReplayProtect bool
	ReplayWindow  uint32
}

// SecY is a kernel macsec device. It implements mka.SecY.
type SecY struct {
	cfg     DeviceConfig
	family  uint16
	ifindex int
	sci     macsec.SCI
	link    netlink.Link
}

var _ mka.SecY = (*SecY)(nil)

// Create creates the macsec device on cfg.Parent, protecting and encrypting,
// validating strictly, with no SA yet: until MKA installs one the device
// sends nothing and delivers nothing.
func Create(cfg DeviceConfig) (*SecY, error) {
	if !cfg.Suite.Valid() {
		return nil, fmt.Errorf("kmacsec: cipher suite %#016x is not one of the four GCM-AES suites", uint64(cfg.Suite))
	}
	if cfg.Suite.XPN() && cfg.ReplayWindow >= 1<<30 {
		return nil, fmt.Errorf("kmacsec: replay window %d: XPN needs a window below 2^30 (802.1AEbw 10.7.8)", cfg.ReplayWindow)
	}
	fam, err := netlink.GenlFamilyGet("macsec")
	if err != nil {
		return nil, fmt.Errorf("kmacsec: the kernel has no macsec generic netlink family (modprobe macsec): %w", err)
	}
	parent, err := netlink.LinkByName(cfg.Parent)
	if err != nil {
		return nil, fmt.Errorf("kmacsec: %s: %w", cfg.Parent, err)
	}
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_LINK, nl.Uint32Attr(uint32(parent.Attrs().Index))))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(cfg.Name)))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("macsec"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	port := make([]byte, 2)
	binary.BigEndian.PutUint16(port, cfg.Port) // __be16
	data.AddRtAttr(unix.IFLA_MACSEC_PORT, port)
	data.AddRtAttr(unix.IFLA_MACSEC_CIPHER_SUITE, nl.Uint64Attr(uint64(cfg.Suite)))
	data.AddRtAttr(unix.IFLA_MACSEC_ICV_LEN, nl.Uint8Attr(16))
	data.AddRtAttr(unix.IFLA_MACSEC_ENCRYPT, nl.Uint8Attr(1))
	data.AddRtAttr(unix.IFLA_MACSEC_PROTECT, nl.Uint8Attr(1))
	data.AddRtAttr(unix.IFLA_MACSEC_INC_SCI, nl.Uint8Attr(boolU8(cfg.IncludeSCI)))
	data.AddRtAttr(unix.IFLA_MACSEC_ES, nl.Uint8Attr(0))
	data.AddRtAttr(unix.IFLA_MACSEC_SCB, nl.Uint8Attr(0))
	data.AddRtAttr(unix.IFLA_MACSEC_REPLAY_PROTECT, nl.Uint8Attr(boolU8(cfg.ReplayProtect)))
	if cfg.ReplayProtect {
		data.AddRtAttr(unix.IFLA_MACSEC_WINDOW, nl.Uint32Attr(cfg.ReplayWindow))
	}
	data.AddRtAttr(unix.IFLA_MACSEC_VALIDATION, nl.Uint8Attr(validateStrict))
	data.AddRtAttr(unix.IFLA_MACSEC_ENCODING_SA, nl.Uint8Attr(0))
	req.AddData(info)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return nil, fmt.Errorf("kmacsec: creating %s (%s) on %s: %w", cfg.Name, cfg.Suite, cfg.Parent, err)
	}
	link, err := netlink.LinkByName(cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("kmacsec: %s: %w", cfg.Name, err)
	}
	return &SecY{cfg: cfg, family: fam.ID, ifindex: link.Attrs().Index, link: link,
		sci: macsec.NewSCI(link.Attrs().HardwareAddr, cfg.Port)}, nil
}

// SCI is the device's SCI: its MAC address and port.
func (y *SecY) SCI() macsec.SCI { return y.sci }

// Link is the macsec device.
func (y *SecY) Link() netlink.Link { return y.link }

// Delete removes the device and with it every SA.
func (y *SecY) Delete() error { return netlink.LinkDel(y.link) }

func boolU8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// request is a macsec genetlink command on the device.
func (y *SecY) request(cmd uint8, flags int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(int(y.family), flags)
	req.AddData(&nl.Genlmsg{Command: cmd, Version: genlVersion})
	req.AddData(nl.NewRtAttr(attrIfindex, nl.Uint32Attr(uint32(y.ifindex))))
	return req
}

// sciAttr is an SCI as the kernel keeps it (sci_t): network byte order.
func sciAttr(sci macsec.SCI) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, uint64(sci))
	return b
}

func rxscConfig(sci macsec.SCI) *nl.RtAttr {
	a := nl.NewRtAttr(attrRxSCConfig, nil)
	a.AddRtAttr(rxscAttrSCI, sciAttr(sci))
	return a
}

// saConfig is an SA's attributes: the PN as u64 for XPN, u32 otherwise;
// the XPN suites' SSCI (network byte order, as ssci_t) and salt.
func (y *SecY) saConfig(an uint8, k *macsec.Key, pn uint64) *nl.RtAttr {
	a := nl.NewRtAttr(attrSAConfig, nil)
	a.AddRtAttr(saAttrAN, nl.Uint8Attr(an))
	if k == nil {
		return a
	}
	a.AddRtAttr(saAttrActive, nl.Uint8Attr(1))
	pn = max(pn, 1) // PN 0 is never valid on add
	if y.cfg.Suite.XPN() {
		a.AddRtAttr(saAttrPN, nl.Uint64Attr(pn))
		ssci := make([]byte, 4)
		binary.BigEndian.PutUint32(ssci, uint32(k.SSCI))
		a.AddRtAttr(saAttrSSCI, ssci)
		a.AddRtAttr(saAttrSalt, k.Salt[:])
	} else {
		a.AddRtAttr(saAttrPN, nl.Uint32Attr(uint32(pn)))
	}
	a.AddRtAttr(saAttrKey, k.SAK)
	a.AddRtAttr(saAttrKeyID, keyID(k.SAK))
	return a
}

// keyID names an SA's key for the kernel (MACSEC_SA_ATTR_KEYID, shown by
// ip macsec show): a one-way digest, never the key.
func keyID(sak []byte) []byte {
	h := sha256.Sum256(append([]byte("secylab kmacsec key id\x00"), sak...))
	return h[:keyIDLen]
}

func (y *SecY) do(what string, req *nl.NetlinkRequest) error {
	if _, err := req.Execute(unix.NETLINK_GENERIC, 0); err != nil {
		return fmt.Errorf("kmacsec: %s on %s: %w", what, y.cfg.Name, err)
	}
	return nil
}

// InstallTxSA adds (or replaces) transmit SA an.
func (y *SecY) InstallTxSA(an uint8, k macsec.Key, nextPN uint64) error {
	if len(k.SAK) != y.cfg.Suite.KeyLen() {
		return fmt.Errorf("kmacsec: SAK is %d octets; %s needs %d", len(k.SAK), y.cfg.Suite, y.cfg.Suite.KeyLen())
	}
	y.DeleteTxSA(an)
	req := y.request(cmdAddTxSA, unix.NLM_F_ACK)
	req.AddData(y.saConfig(an, &k, nextPN))
	return y.do(fmt.Sprintf("adding TX SA %d", an), req)
}

// SetEncodingSA makes transmit SA an the one frames are sent with.
func (y *SecY) SetEncodingSA(an uint8) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(y.ifindex)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("macsec"))
	info.AddRtAttr(nl.IFLA_INFO_DATA, nil).AddRtAttr(unix.IFLA_MACSEC_ENCODING_SA, nl.Uint8Attr(an))
	req.AddData(info)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("kmacsec: encoding SA %d on %s: %w", an, y.cfg.Name, err)
	}
	return nil
}

// DeleteTxSA removes transmit SA an, if there is one.
func (y *SecY) DeleteTxSA(an uint8) {
	req := y.request(cmdDelTxSA, unix.NLM_F_ACK)
	req.AddData(y.saConfig(an, nil, 0))
	_ = ignoreMissing(y.do("deleting TX SA", req))
}

// AddRxSC adds the receive SC of a peer.
func (y *SecY) AddRxSC(sci macsec.SCI) error {
	req := y.request(cmdAddRxSC, unix.NLM_F_ACK)
	a := rxscConfig(sci)
	a.AddRtAttr(rxscAttrActive, nl.Uint8Attr(1))
	req.AddData(a)
	err := y.do("adding RX SC "+sci.String(), req)
	if errors.Is(err, syscall.EEXIST) {
		return nil
	}
	return err
}

// DeleteRxSC removes a peer's receive SC and its SAs.
func (y *SecY) DeleteRxSC(sci macsec.SCI) {
	req := y.request(cmdDelRxSC, unix.NLM_F_ACK)
	req.AddData(rxscConfig(sci))
	_ = ignoreMissing(y.do("deleting RX SC", req))
}

// InstallRxSA adds (or replaces) receive SA an of the peer sci.
func (y *SecY) InstallRxSA(sci macsec.SCI, an uint8, k macsec.Key, nextPN uint64) error {
	if len(k.SAK) != y.cfg.Suite.KeyLen() {
		return fmt.Errorf("kmacsec: SAK is %d octets; %s needs %d", len(k.SAK), y.cfg.Suite, y.cfg.Suite.KeyLen())
	}
	y.DeleteRxSA(sci, an)
	req := y.request(cmdAddRxSA, unix.NLM_F_ACK)
	req.AddData(rxscConfig(sci))
	req.AddData(y.saConfig(an, &k, nextPN))
	return y.do(fmt.Sprintf("adding RX SA %s/%d", sci, an), req)
}

// DeleteRxSA removes receive SA an of the peer sci, if there is one.
func (y *SecY) DeleteRxSA(sci macsec.SCI, an uint8) {
	req := y.request(cmdDelRxSA, unix.NLM_F_ACK)
	req.AddData(rxscConfig(sci))
	req.AddData(y.saConfig(an, nil, 0))
	_ = ignoreMissing(y.do("deleting RX SA", req))
}

func ignoreMissing(err error) error {
	if errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENOENT) {
		return nil
	}
	return err
}

// TxSANextPN is transmit SA an's next PN, as the kernel reports it.
func (y *SecY) TxSANextPN(an uint8) (uint64, bool) {
	st, err := y.state()
	if err != nil {
		return 0, false
	}
	pn, ok := st.tx[an]
	return pn, ok
}

// RxSANextPN is receive SA an's next PN of the peer sci.
func (y *SecY) RxSANextPN(sci macsec.SCI, an uint8) (uint64, bool) {
	st, err := y.state()
	if err != nil {
		return 0, false
	}
	pn, ok := st.rx[rxKey{sci, an}]
	return pn, ok
}

type rxKey struct {
	sci macsec.SCI
	an  uint8
}

// secyState is the next PNs of the device's SAs.
type secyState struct {
	tx map[uint8]uint64
	rx map[rxKey]uint64
}

// state reads the device's SAs with MACSEC_CMD_GET_TXSC, a dump the
// kernel answers per device with its TX SAs and RX SCs.
func (y *SecY) state() (secyState, error) {
	st := secyState{tx: map[uint8]uint64{}, rx: map[rxKey]uint64{}}
	req := y.request(cmdGetTxSC, unix.NLM_F_DUMP)
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return st, err
	}
	for _, m := range msgs {
		if len(m) < nl.SizeofGenlmsg {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[nl.SizeofGenlmsg:])
		if err != nil {
			return st, err
		}
		var mine bool
		for _, a := range attrs {
			if a.Attr.Type&^unix.NLA_F_NESTED == attrIfindex && len(a.Value) >= 4 {
				mine = int(native.Uint32(a.Value)) == y.ifindex
			}
		}
		if !mine {
			continue
		}
		for _, a := range attrs {
			switch a.Attr.Type &^ unix.NLA_F_NESTED {
			case attrTxSAList:
				for _, sa := range nested(a.Value) {
					if an, pn, ok := parseSA(sa); ok {
						st.tx[an] = pn
					}
				}
			case attrRxSCList:
				for _, sc := range nested(a.Value) {
					var sci macsec.SCI
					var sas [][]byte
					for _, f := range nestedAttrs(sc) {
						switch f.Attr.Type &^ unix.NLA_F_NESTED {
						case rxscAttrSCI:
							if len(f.Value) == 8 {
								sci = macsec.SCI(binary.BigEndian.Uint64(f.Value))
							}
						case rxscAttrSAList:
							sas = nested(f.Value)
						}
					}
					for _, sa := range sas {
						if an, pn, ok := parseSA(sa); ok {
							st.rx[rxKey{sci, an}] = pn
						}
					}
				}
			}
		}
	}
	return st, nil
}

var native = nl.NativeEndian()

func nestedAttrs(b []byte) []syscall.NetlinkRouteAttr {
	attrs, _ := nl.ParseRouteAttr(b)
	return attrs
}

// nested is the values of a list attribute's entries.
func nested(b []byte) [][]byte {
	var out [][]byte
	for _, a := range nestedAttrs(b) {
		out = append(out, a.Value)
	}
	return out
}

// parseSA reads an SA's AN and PN (u32 or u64 by the suite).
func parseSA(b []byte) (an uint8, pn uint64, ok bool) {
	var haveAN bool
	for _, f := range nestedAttrs(b) {
		switch f.Attr.Type &^ unix.NLA_F_NESTED {
		case saAttrAN:
			if len(f.Value) >= 1 {
				an, haveAN = f.Value[0], true
			}
		case saAttrPN:
			switch len(f.Value) {
			case 4:
				pn = uint64(native.Uint32(f.Value))
			case 8:
				pn = native.Uint64(f.Value)
			}
		}
	}
	return an, pn, haveAN
}

// hardwareAddr is the interface's MAC.
func hardwareAddr(name string) (net.HardwareAddr, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	return ifi.HardwareAddr, nil
}
