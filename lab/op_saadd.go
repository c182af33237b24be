package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/ipsec"
	"github.com/secylab/secylab/topology"
)

func init() { register(true, func() Op { return &SAAddOp{} }) }

// SPI is an IPsec SPI, decimal or 0x hex; SPIs below 256 are reserved
// (RFC 4303 2.1).
type SPI uint32

func (s *SPI) Set(v string) error {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 0, 32)
	if err != nil || n < 256 {
		return fmt.Errorf("%q: want a 32-bit SPI of 256 or more (RFC 4303 2.1), decimal or 0x hex", v)
	}
	*s = SPI(n)
	return nil
}
func (s SPI) String() string { return fmt.Sprintf("0x%x", uint32(s)) }
func (s SPI) Type() string   { return "spi" }

// SAAddOp adds a manually keyed AES-GCM-16 SA (tunnel mode, ESP in UDP 4500)
// to a gateway, as ip xfrm state add does. The key is read from KeyFile
// (KEYMAT in hex: key || 4-octet salt, mode 0600) by the lab process: it
// never travels over the control socket.
type SAAddOp struct {
	Node         string     `json:"node"`
	SPI          SPI        `json:"spi"`
	Src          netip.Addr `json:"src"`
	Dst          netip.Addr `json:"dst"`
	Dir          string     `json:"dir"` // in or out
	KeyFile      string     `json:"keyFile"`
	ESN          bool       `json:"esn,omitempty"`
	ReplayWindow int        `json:"replayWindow,omitempty"`
}

func (*SAAddOp) Kind() string { return "saAdd" }

func (o *SAAddOp) Describe() string {
	return fmt.Sprintf("add SA %s %s → %s (%s) on %s", o.SPI, o.Src, o.Dst, o.Dir, o.Node)
}

func (o *SAAddOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	c.node("node", o.Node)
	if o.SPI < 256 {
		c.errorf("spi", "%d: want a 32-bit SPI of 256 or more (RFC 4303 2.1)", o.SPI)
	}
	if !o.Src.IsValid() {
		c.errorf("src", "missing: the outer source address")
	}
	if !o.Dst.IsValid() {
		c.errorf("dst", "missing: the outer destination address")
	}
	if _, err := value.Enum(o.Dir, "in", "out"); err != nil {
		c.errorf("dir", "%v", err)
	}
	if !strings.HasPrefix(o.KeyFile, "/") {
		c.errorf("keyFile", "%q: the lab reads key files by absolute path", o.KeyFile)
	}
	if o.ReplayWindow != 0 && (o.ReplayWindow < 32 || o.ReplayWindow > 4096) {
		c.errorf("replayWindow", "%d: want 0 (off) or 32 to 4096", o.ReplayWindow)
	}
	return c.err()
}

func (o *SAAddOp) Apply(_ context.Context, l *Lab) (any, error) {
	te, err := l.gatewayOn(o.Node)
	if err != nil {
		return nil, err
	}
	cfg := ipsec.SAConfig{SPI: uint32(o.SPI), Src: o.Src, Dst: o.Dst, ESN: o.ESN, ReplayWindow: o.ReplayWindow, ReqID: 1,
		Mode: ipsec.ModeTunnel, Encap: ipsec.EncapUDP, EncapSrcPort: ipsec.UDPEncapPort, EncapDstPort: ipsec.UDPEncapPort, Dir: ipsec.DirOut}
	if dir, _ := value.Enum(o.Dir, "in", "out"); dir == "in" {
		cfg.Dir = ipsec.DirIn
	}
	if cfg.KEYMAT, err = readKeymat(o.KeyFile); err != nil {
		return nil, err
	}
	defer clear(cfg.KEYMAT)
	return nil, te.gw.Backend().AddSA(cfg)
}
