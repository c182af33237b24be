package macsec

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// ValidateFrames is the validateFrames control of 802.1AE-2018 10.7.8.
type ValidateFrames uint8

// The zero value is Strict, the safe default (and Linux's).
const (
	Strict   ValidateFrames = iota // discard every frame that does not validate
	Check                          // validate, deliver integrity-only frames that fail, count them
	Disabled                       // do not validate integrity-only frames
)

func (v ValidateFrames) String() string {
	switch v {
	case Strict:
		return "strict"
	case Check:
		return "check"
	case Disabled:
		return "disabled"
	}
	return fmt.Sprintf("ValidateFrames(%d)", uint8(v))
}

// ParseValidateFrames reads "strict", "check" or "disabled".
func ParseValidateFrames(s string) (ValidateFrames, error) {
	for v := Strict; v <= Disabled; v++ {
		if s == v.String() {
			return v, nil
		}
	}
	return 0, fmt.Errorf("validateFrames %q: want strict, check or disabled", s)
}

// MaxXPNReplayWindow is the largest replay window an XPN SecY accepts: the
// window must stay below 2^30 so the upper PN half can be recovered
// (802.1AEbw-2013 10.7.8; Linux MACSEC_XPN_MAX_REPLAY_WINDOW).
const MaxXPNReplayWindow = 1<<30 - 1

// Config configures a SecY. Its zero value is not usable: Suite and SCI are
// required.
type Config struct {
	Suite CipherSuite
	SCI   SCI // the transmit SC's identifier

	// IncludeSCI puts the SCI in every SecTAG (SC=1; Linux send_sci, Azure
	// "SCI state Enabled"). Without it the receiver uses ES or its single
	// peer SC to find the SCI.
	IncludeSCI bool
	EndStation bool // ES: the SCI is MAC SA || 0x0001
	SCB        bool // single copy broadcast

	// Unprotected turns protectFrames off: frames leave untagged.
	Unprotected bool
	// IntegrityOnly sends E=0, C=0 frames: authenticated, not encrypted.
	IntegrityOnly bool

	ValidateFrames ValidateFrames
	ReplayProtect  bool
	ReplayWindow   uint32 // frames this far below the highest PN seen are accepted

	// MTU of the uncontrolled port (payload octets after the Ethernet
	// header); longer protected frames count OutPktsTooLong. 0: no limit.
	MTU int

	// PNThreshold is the next PN at which OnPNThreshold is raised, once
	// per transmit SA. 0 means the suite's default (0xC0000000, or
	// 0xC000000000000000 for XPN).
	PNThreshold uint64
	// OnPNThreshold tells the key agreement to rekey before the PNs run
	// out. It is called from the transmit path and must not block.
	OnPNThreshold func(an uint8, pn uint64)
}

func (c *Config) check() error {
	if !c.Suite.Valid() {
		return fmt.Errorf("cipher suite %#016x: want one of GCM-AES-128, GCM-AES-256, GCM-AES-XPN-128, GCM-AES-XPN-256", uint64(c.Suite))
	}
	if c.IncludeSCI && (c.EndStation || c.SCB) {
		return errors.New("IncludeSCI excludes EndStation and SCB: a SecTAG with SC=1 must have ES=0 and SCB=0 (802.1AE 9.5)")
	}
	if c.EndStation && c.SCB {
		return errors.New("EndStation and SCB exclude each other")
	}
	if c.EndStation && c.SCI.Port() != PortES {
		return fmt.Errorf("EndStation needs an SCI with port %d, have %d", PortES, c.SCI.Port())
	}
	if c.Suite.XPN() && c.ReplayWindow > MaxXPNReplayWindow {
		return fmt.Errorf("replay window %d: an XPN suite needs a window below 2^30", c.ReplayWindow)
	}
	if c.ValidateFrames > Disabled {
		return fmt.Errorf("validateFrames %d: want Strict, Check or Disabled", c.ValidateFrames)
	}
	if c.MTU < 0 {
		return fmt.Errorf("MTU %d: must not be negative", c.MTU)
	}
	return nil
}

// SecY is a MAC Security Entity: one transmit SC and its receive SCs.
// Protect and Validate may run concurrently with each other and with the
// control methods that install and delete SAs and SCs.
type SecY struct {
	cfg       Config
	xpn       bool
	tci       uint8  // TCI bits of every transmitted SecTAG
	tagHdr    uint64 // the SecTAG's first 8 octets without AN, SL and PN
	tagLen    int
	threshold uint64

	mu    sync.Mutex // serialises control-plane changes
	tx    txSC
	rxSCs atomic.Pointer[[]*rxSC] // copy on write, read lock-free by Validate

	stats secyCounters

	// ivs holds IV scratch for callers that leave no room for it in the
	// buffer before the frame.
	ivs sync.Pool
}

// ivScratch returns 12 octets for the IV: buf[at:at+12] when the caller's
// buffer has them to spare, else a pooled array to give back with putIV.
func (y *SecY) ivScratch(buf []byte, at int) (*[12]byte, bool) {
	if at >= 0 {
		return (*[12]byte)(buf[at : at+ivLen]), false
	}
	return y.ivs.Get().(*[12]byte), true
}

type txSC struct {
	encoding atomic.Uint32
	sa       [4]atomic.Pointer[txSA]
	stats    txSCCounters
}

type rxSC struct {
	sci   SCI
	sa    [4]atomic.Pointer[rxSA]
	stats rxSCCounters
}

// New creates a SecY with no SAs: until a transmit SA is installed it is
// not operational and transmits nothing.
func New(cfg Config) (*SecY, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	y := &SecY{cfg: cfg, xpn: cfg.Suite.XPN(), tagLen: sectagLen, threshold: cfg.PNThreshold}
	if y.threshold == 0 {
		y.threshold = cfg.Suite.DefaultPNThreshold()
	}
	if cfg.IncludeSCI {
		y.tci |= TCISC
		y.tagLen = sectagLenSCI
	}
	if cfg.EndStation {
		y.tci |= TCIES
	}
	if cfg.SCB {
		y.tci |= TCISCB
	}
	if !cfg.IntegrityOnly {
		y.tci |= TCIE | TCIC
	}
	y.tagHdr = EtherType<<48 | uint64(y.tci)<<40
	y.rxSCs.Store(new([]*rxSC))
	y.ivs.New = func() any { return new([12]byte) }
	return y, nil
}

// Config returns the configuration the SecY was created with.
func (y *SecY) Config() Config { return y.cfg }

// Overhead is what Protect adds to each frame: the SecTAG and the ICV.
func (y *SecY) Overhead() int { return y.tagLen + ICVLen }

func checkAN(an uint8) error {
	if an > 3 {
		return fmt.Errorf("AN %d: the association number is 0..3", an)
	}
	return nil
}

func (y *SecY) checkPN(pn uint64, what string) error {
	if pn == 0 || pn > y.cfg.Suite.MaxPN() {
		return fmt.Errorf("%s %#x: must be 1..%#x for %s", what, pn, y.cfg.Suite.MaxPN(), y.cfg.Suite)
	}
	return nil
}

// InstallTxSA creates the transmit SA for an, active, with the next PN to
// send. It replaces an SA already there.
func (y *SecY) InstallTxSA(an uint8, k Key, nextPN uint64) error {
	if err := checkAN(an); err != nil {
		return err
	}
	if err := y.checkPN(nextPN, "next PN"); err != nil {
		return err
	}
	c, err := newSACrypto(y.cfg.Suite, k)
	if err != nil {
		return fmt.Errorf("TX SA %d: %w", an, err)
	}
	sa := &txSA{saCrypto: c, an: an, maxPN: y.cfg.Suite.MaxPN(), threshold: y.threshold}
	sa.nextPN.Store(nextPN)
	sa.active.Store(true)
	y.mu.Lock()
	y.tx.sa[an].Store(sa)
	y.mu.Unlock()
	return nil
}

// SetEncodingSA selects the transmit SA that protects frames from now on.
func (y *SecY) SetEncodingSA(an uint8) error {
	if err := checkAN(an); err != nil {
		return err
	}
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.tx.sa[an].Load() == nil {
		return fmt.Errorf("encoding SA %d: no transmit SA installed for that AN", an)
	}
	y.tx.encoding.Store(uint32(an))
	return nil
}

// EncodingSA returns the AN of the transmit SA in use.
func (y *SecY) EncodingSA() uint8 { return uint8(y.tx.encoding.Load()) }

// DeleteTxSA removes the transmit SA for an.
func (y *SecY) DeleteTxSA(an uint8) {
	if an > 3 {
		return
	}
	y.mu.Lock()
	y.tx.sa[an].Store(nil)
	y.mu.Unlock()
}

// TxSANextPN returns the next PN the SA for an would send.
func (y *SecY) TxSANextPN(an uint8) (uint64, bool) {
	if an > 3 {
		return 0, false
	}
	sa := y.tx.sa[an].Load()
	if sa == nil {
		return 0, false
	}
	return sa.nextPN.Load(), true
}

// Operational reports whether the SecY can transmit: protectFrames is off,
// or the encoding SA exists and is active.
func (y *SecY) Operational() bool {
	if y.cfg.Unprotected {
		return true
	}
	sa := y.tx.sa[y.tx.encoding.Load()].Load()
	return sa != nil && sa.active.Load()
}

func (y *SecY) findRxSC(sci SCI) *rxSC {
	for _, sc := range *y.rxSCs.Load() {
		if sc.sci == sci {
			return sc
		}
	}
	return nil
}

// AddRxSC creates the receive SC for a peer's SCI.
func (y *SecY) AddRxSC(sci SCI) error {
	y.mu.Lock()
	defer y.mu.Unlock()
	if y.findRxSC(sci) != nil {
		return fmt.Errorf("RX SC %s exists", sci)
	}
	scs := append(slices.Clone(*y.rxSCs.Load()), &rxSC{sci: sci})
	y.rxSCs.Store(&scs)
	return nil
}

// DeleteRxSC removes a receive SC and its SAs.
func (y *SecY) DeleteRxSC(sci SCI) {
	y.mu.Lock()
	defer y.mu.Unlock()
	scs := slices.DeleteFunc(slices.Clone(*y.rxSCs.Load()), func(sc *rxSC) bool { return sc.sci == sci })
	y.rxSCs.Store(&scs)
}

func (y *SecY) rxSC(sci SCI) (*rxSC, error) {
	sc := y.findRxSC(sci)
	if sc == nil {
		return nil, fmt.Errorf("RX SC %s: no such receive SC", sci)
	}
	return sc, nil
}

// InstallRxSA creates the receive SA for an in the SC of sci, active, with
// the lowest PN it accepts before any frame arrives.
func (y *SecY) InstallRxSA(sci SCI, an uint8, k Key, nextPN uint64) error {
	if err := checkAN(an); err != nil {
		return err
	}
	if err := y.checkPN(nextPN, "next PN"); err != nil {
		return err
	}
	c, err := newSACrypto(y.cfg.Suite, k)
	if err != nil {
		return fmt.Errorf("RX SA %s/%d: %w", sci, an, err)
	}
	y.mu.Lock()
	defer y.mu.Unlock()
	sc, err := y.rxSC(sci)
	if err != nil {
		return err
	}
	sa := &rxSA{saCrypto: c, an: an}
	sa.nextPN.Store(nextPN)
	sa.active.Store(true)
	sc.sa[an].Store(sa)
	return nil
}

// SetRxSANextPN raises the next PN the receive SA expects, as the key
// agreement does when a peer reports its lowest acceptable PN. It never
// lowers it: that would reopen the replay window.
func (y *SecY) SetRxSANextPN(sci SCI, an uint8, pn uint64) error {
	if err := checkAN(an); err != nil {
		return err
	}
	y.mu.Lock()
	defer y.mu.Unlock()
	sc, err := y.rxSC(sci)
	if err != nil {
		return err
	}
	sa := sc.sa[an].Load()
	if sa == nil {
		return fmt.Errorf("RX SA %s/%d: no such receive SA", sci, an)
	}
	if pn > 0 {
		sa.advance(pn - 1)
	}
	return nil
}

// RxSANextPN returns the next PN the receive SA expects.
func (y *SecY) RxSANextPN(sci SCI, an uint8) (uint64, bool) {
	if an > 3 {
		return 0, false
	}
	sc := y.findRxSC(sci)
	if sc == nil {
		return 0, false
	}
	sa := sc.sa[an].Load()
	if sa == nil {
		return 0, false
	}
	return sa.nextPN.Load(), true
}

// DeleteRxSA removes a receive SA.
func (y *SecY) DeleteRxSA(sci SCI, an uint8) {
	if an > 3 {
		return
	}
	y.mu.Lock()
	defer y.mu.Unlock()
	if sc := y.findRxSC(sci); sc != nil {
		sc.sa[an].Store(nil)
	}
}

// SetSAActive turns a transmit (rx=false) or receive SA on or off without
// removing its key, like Linux's "ip macsec set ... on|off".
func (y *SecY) SetSAActive(rx bool, sci SCI, an uint8, on bool) error {
	if err := checkAN(an); err != nil {
		return err
	}
	y.mu.Lock()
	defer y.mu.Unlock()
	if !rx {
		sa := y.tx.sa[an].Load()
		if sa == nil {
			return fmt.Errorf("TX SA %d: no such transmit SA", an)
		}
		sa.active.Store(on)
		return nil
	}
	sc, err := y.rxSC(sci)
	if err != nil {
		return err
	}
	sa := sc.sa[an].Load()
	if sa == nil {
		return fmt.Errorf("RX SA %s/%d: no such receive SA", sci, an)
	}
	sa.active.Store(on)
	return nil
}
