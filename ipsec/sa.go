package ipsec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"fmt"
	"hash"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/secylab/secylab/internal/fingerprint"
)

// Direction is the direction of an SA or a policy, as in xfrm.
type Direction uint8

const (
	DirIn  Direction = iota // inbound: traffic to this host
	DirOut                  // outbound: traffic from this host
	DirFwd                  // forwarded (policies only): traffic routed through this host
)

func (d Direction) String() string {
	switch d {
	case DirIn:
		return "in"
	case DirOut:
		return "out"
	case DirFwd:
		return "fwd"
	}
	return fmt.Sprintf("dir(%d)", uint8(d))
}

// Mode is the ESP mode. Only tunnel mode is implemented: a gateway
// protects whole inner packets (RFC 4303 §3.1.2).
type Mode uint8

const ModeTunnel Mode = 1 // the value of XFRM_MODE_TUNNEL

func (m Mode) String() string {
	if m == ModeTunnel {
		return "tunnel"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ProtoESP is the IP protocol number of ESP.
const ProtoESP = 50

// Encap is how ESP packets travel between the gateways.
type Encap uint8

const (
	EncapNone Encap = iota // raw ESP, IP protocol 50
	EncapUDP               // ESP in UDP (RFC 3948)
)

// UDPEncapPort is the port of ESP in UDP (RFC 3948 §2).
const UDPEncapPort = 4500

// Limits are the lifetime limits of an SA (xfrm's soft and hard byte and
// packet limits; 0 is no limit). Past a soft limit the SA raises its
// soft-expire event once, so that a new SA can be keyed; past a hard one
// it stops.
type Limits struct {
	SoftPackets, HardPackets uint64
	SoftBytes, HardBytes     uint64
}

// Cipher is the ESP transform of an SA.
type Cipher uint8

const (
	// AESGCM16 is AES-GCM with a 16-octet ICV (RFC 4106); KEYMAT is the
	// key and the salt.
	AESGCM16 Cipher = iota
	// AESCBCHMACSHA1 is AES-CBC (RFC 3602) with HMAC-SHA1-96 (RFC 2404);
	// KEYMAT is the AES key, AuthKey the 20-octet HMAC key.
	AESCBCHMACSHA1
	// AESCBCHMACSHA256 is AES-CBC with HMAC-SHA-256-128 (RFC 4868);
	// AuthKey is 32 octets.
	AESCBCHMACSHA256
)

func (c Cipher) String() string {
	switch c {
	case AESGCM16:
		return "aes-gcm-16"
	case AESCBCHMACSHA1:
		return "aes-cbc-hmac-sha1-96"
	case AESCBCHMACSHA256:
		return "aes-cbc-hmac-sha256-128"
	}
	return fmt.Sprintf("cipher(%d)", uint8(c))
}

// CBC reports whether the cipher is AES-CBC with an HMAC.
func (c Cipher) CBC() bool { return c == AESCBCHMACSHA1 || c == AESCBCHMACSHA256 }

// ivLen, icvLen and block are the per-packet sizes of the cipher: the
// explicit IV, the ICV, and what the ciphertext is a multiple of.
func (c Cipher) ivLen() int {
	if c.CBC() {
		return aes.BlockSize
	}
	return IVLen
}

func (c Cipher) icvLen() int {
	if c == AESCBCHMACSHA1 {
		return 12
	}
	return ICVLen
}

func (c Cipher) block() int {
	if c.CBC() {
		return aes.BlockSize
	}
	return 4
}

// SAConfig describes a manually keyed SA, the fields of an xfrm state.
type SAConfig struct {
	SPI      uint32     // 256 and up; 1..255 are reserved and 0 is never sent (RFC 4303 §2.1)
	Src, Dst netip.Addr // the outer (tunnel) endpoints
	ReqID    uint32     // ties the SA to the policies whose templates name it
	Mode     Mode       // ModeTunnel (the zero value means tunnel)
	Dir      Direction  // DirIn or DirOut
	// KEYMAT is the AES key followed by the 4-octet salt (RFC 4106 §8.1):
	// 20 octets for AES-128, 28 for AES-192, 36 for AES-256.
	KEYMAT []byte `json:"-"` // never in a status or report
	// Cipher is the transform (the zero value is AES-GCM-16). With
	// AES-CBC, KEYMAT is the AES key (16, 24 or 32 octets) and AuthKey the
	// HMAC key (20 octets for SHA-1, 32 for SHA-256, RFC 4868 §2.1.1).
	Cipher  Cipher
	AuthKey []byte `json:"-"`
	// ReplayWindow is the anti-replay window of an inbound SA in packets:
	// 0 turns anti-replay off, otherwise 32 to MaxReplayWindow.
	ReplayWindow int
	ESN          bool // 64-bit extended sequence numbers (RFC 4304); needs a replay window
	Encap        Encap
	// EncapSrcPort and EncapDstPort are the UDP ports with EncapUDP
	// (0: UDPEncapPort).
	EncapSrcPort, EncapDstPort uint16
	Limits                     Limits
	// InitialSN starts the SA somewhere else than 0, like xfrm's replay
	// state: for an outbound SA the last SN sent, for an inbound one the
	// highest SN received. Tests use it to start close to 2^32.
	InitialSN uint64
	// OnSoftExpire, if set, is called once, from the data path, when the
	// SA passes a soft limit or nears the end of its sequence numbers:
	// the time to key a new SA. It must not block.
	OnSoftExpire func(*SA) `json:"-"`
}

// MaxReplayWindow is the largest anti-replay window, the largest bitmap
// the kernel accepts (XFRMA_REPLAY_ESN_MAX).
const MaxReplayWindow = 4096

// snSoftMargin: an SA raises its soft-expire event when fewer than this
// many sequence numbers are left, whatever its limits.
const snSoftMargin = 1 << 16

func (c *SAConfig) check() error {
	switch {
	case c.Mode != 0 && c.Mode != ModeTunnel:
		return fmt.Errorf("SA %#x: mode %v: only tunnel mode is supported", c.SPI, c.Mode)
	case c.Dir != DirIn && c.Dir != DirOut:
		return fmt.Errorf("SA %#x: direction %v: an SA is in or out", c.SPI, c.Dir)
	case c.Cipher > AESCBCHMACSHA256:
		return fmt.Errorf("SA %#x: %v is not an ESP transform this engine has", c.SPI, c.Cipher)
	case c.Cipher == AESGCM16 && len(c.KEYMAT) != 20 && len(c.KEYMAT) != 28 && len(c.KEYMAT) != 36:
		return fmt.Errorf("SA %#x: KEYMAT is %d octets; AES-GCM needs key||salt of 20, 28 or 36 octets (RFC 4106 §8.1)", c.SPI, len(c.KEYMAT))
	case c.Cipher == AESGCM16 && len(c.AuthKey) != 0:
		return fmt.Errorf("SA %#x: AES-GCM authenticates with its own key; an integrity key is not used", c.SPI)
	case c.Cipher.CBC() && len(c.KEYMAT) != 16 && len(c.KEYMAT) != 24 && len(c.KEYMAT) != 32:
		return fmt.Errorf("SA %#x: KEYMAT is %d octets; AES-CBC needs a key of 16, 24 or 32 octets (RFC 3602)", c.SPI, len(c.KEYMAT))
	case c.Cipher == AESCBCHMACSHA1 && len(c.AuthKey) != sha1.Size:
		return fmt.Errorf("SA %#x: the HMAC-SHA1-96 key is %d octets; it is 20 (RFC 2404)", c.SPI, len(c.AuthKey))
	case c.Cipher == AESCBCHMACSHA256 && len(c.AuthKey) != sha256.Size:
		return fmt.Errorf("SA %#x: the HMAC-SHA-256-128 key is %d octets; it is 32 (RFC 4868 §2.1.1)", c.SPI, len(c.AuthKey))
	case c.ReplayWindow != 0 && (c.ReplayWindow < 32 || c.ReplayWindow > MaxReplayWindow):
		return fmt.Errorf("SA %#x: replay window %d: use 0 (off) or 32..%d packets (RFC 4303 §3.4.3)", c.SPI, c.ReplayWindow, MaxReplayWindow)
	case c.ESN && c.ReplayWindow == 0 && c.Dir == DirIn:
		return fmt.Errorf("SA %#x: ESN needs a replay window (RFC 4303 §3.3.3)", c.SPI)
	case !c.Src.IsValid() || !c.Dst.IsValid():
		return fmt.Errorf("SA %#x: needs both tunnel endpoints (src %v, dst %v)", c.SPI, c.Src, c.Dst)
	case !c.ESN && c.InitialSN > maxSN32:
		return fmt.Errorf("SA %#x: initial SN %d does not fit 32 bits without ESN", c.SPI, c.InitialSN)
	}
	return nil
}

const maxSN32 = 1<<32 - 1

// Fingerprint identifies keying material without revealing it
// (fingerprint.Of, kind ESP KEYMAT).
func Fingerprint(keymat []byte) string { return fingerprint.Of(fingerprint.ESPKeymat, keymat) }

// SA is a security association: the configuration, the AEAD, the
// sequence number (outbound) or the anti-replay window (inbound), and
// the counters. Seal and Open may run concurrently.
type SA struct {
	cfg         SAConfig
	aead        cipher.AEAD
	salt        [4]byte
	fingerprint string
	maxSN       uint64
	ivLen       int // the explicit IV in each packet
	icvLen      int
	blockLen    int // the ciphertext is a multiple of this

	// AES-CBC with an HMAC: the CBC mode and the HMAC are stateful, so
	// one packet at a time uses them (cbcMu). The IV of a packet is the
	// SN, masked with a random block and encrypted under the SA's key:
	// unpredictable, as RFC 3602 §2.4 requires, without a random read per
	// packet.
	cbcMu  sync.Mutex
	block  cipher.Block
	cbcEnc cipher.BlockMode
	cbcDec cipher.BlockMode
	mac    hash.Hash
	ivMask [aes.BlockSize]byte
	macSum [sha256.Size]byte
	macHi  [4]byte // the high half of an ESN, which the ICV covers

	sn      atomic.Uint64 // outbound: the last SN handed out
	dead    atomic.Bool   // hard limit or SN overflow: the SA carries nothing more
	softHit atomic.Bool   // the soft-expire event was raised

	mu     sync.Mutex // guards replay
	replay replayWindow

	stats saCounters
}

func checkSPI(spi uint32) error {
	switch {
	case spi == 0:
		return fmt.Errorf("SPI 0 is never sent on the wire (RFC 4303 §2.1); use 256 or more")
	case spi < 256:
		return fmt.Errorf("SPI %#x is reserved by IANA (1..255); use 256 or more", spi)
	}
	return nil
}

// Check reports what NewSA would refuse in c (the SPI range and the
// configuration), without keying an SA: for backends that key SAs
// elsewhere, such as the kernel's.
func (c SAConfig) Check() error {
	if err := checkSPI(c.SPI); err != nil {
		return err
	}
	return c.check()
}

// NewSA checks cfg and keys an SA. The SA keeps its own copy of KEYMAT.
func NewSA(cfg SAConfig) (*SA, error) {
	if err := checkSPI(cfg.SPI); err != nil {
		return nil, err
	}
	return newSA(cfg)
}

// newSA is NewSA without the SPI range check: published vectors use SPIs
// that a real SA may not.
func newSA(cfg SAConfig) (*SA, error) {
	if cfg.Mode == 0 {
		cfg.Mode = ModeTunnel
	}
	if cfg.Encap == EncapUDP {
		if cfg.EncapSrcPort == 0 {
			cfg.EncapSrcPort = UDPEncapPort
		}
		if cfg.EncapDstPort == 0 {
			cfg.EncapDstPort = UDPEncapPort
		}
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	cfg.KEYMAT = append([]byte(nil), cfg.KEYMAT...)
	cfg.AuthKey = append([]byte(nil), cfg.AuthKey...)
	sa := &SA{cfg: cfg, fingerprint: Fingerprint(append(append([]byte(nil), cfg.KEYMAT...), cfg.AuthKey...)), maxSN: maxSN32,
		ivLen: cfg.Cipher.ivLen(), icvLen: cfg.Cipher.icvLen(), blockLen: cfg.Cipher.block()}
	if err := sa.key(); err != nil {
		return nil, err
	}
	if cfg.ESN {
		sa.maxSN = 1<<64 - 1
	}
	sa.sn.Store(cfg.InitialSN)
	sa.replay.init(uint64(cfg.ReplayWindow), cfg.InitialSN)
	return sa, nil
}

// key sets up the cipher of the SA from its configuration.
func (sa *SA) key() error {
	cfg := &sa.cfg
	if !cfg.Cipher.CBC() {
		keyLen := len(cfg.KEYMAT) - 4
		block, err := aes.NewCipher(cfg.KEYMAT[:keyLen])
		if err != nil {
			return err
		}
		if sa.aead, err = cipher.NewGCM(block); err != nil {
			return err
		}
		copy(sa.salt[:], cfg.KEYMAT[keyLen:])
		return nil
	}
	block, err := aes.NewCipher(cfg.KEYMAT)
	if err != nil {
		return err
	}
	sa.block = block
	var iv [aes.BlockSize]byte
	sa.cbcEnc, sa.cbcDec = cipher.NewCBCEncrypter(block, iv[:]), cipher.NewCBCDecrypter(block, iv[:])
	if _, ok := sa.cbcEnc.(ivSetter); !ok {
		return fmt.Errorf("SA %#x: this Go's CBC mode cannot take a new IV in place", cfg.SPI)
	}
	h := sha1.New
	if cfg.Cipher == AESCBCHMACSHA256 {
		h = sha256.New
	}
	sa.mac = hmac.New(h, cfg.AuthKey)
	_, err = rand.Read(sa.ivMask[:])
	return err
}

// ivSetter is what crypto/cipher's CBC modes offer to reuse them for the
// next packet without allocating.
type ivSetter interface{ SetIV([]byte) }

// Config returns the SA's configuration. Its KEYMAT is the SA's own:
// do not modify it.
func (sa *SA) Config() SAConfig { return sa.cfg }

// ReqID returns the reqid that ties the SA to its policies.
func (sa *SA) ReqID() uint32 { return sa.cfg.ReqID }

// SPI returns the SA's SPI.
func (sa *SA) SPI() uint32 { return sa.cfg.SPI }

// Fingerprint identifies the SA's KEYMAT without revealing it.
func (sa *SA) Fingerprint() string { return sa.fingerprint }

// Expired reports whether the SA stopped: a hard limit was reached or its
// sequence numbers ran out.
func (sa *SA) Expired() bool { return sa.dead.Load() }

// SN returns the last SN sent (outbound) or the highest SN received
// (inbound).
func (sa *SA) SN() uint64 {
	if sa.cfg.Dir == DirOut {
		return sa.sn.Load()
	}
	sa.mu.Lock()
	defer sa.mu.Unlock()
	return sa.replay.top
}

// Zero overwrites the SA's copy of the keying material. The AEAD keeps its
// expanded key until the SA is garbage; a zeroed SA must not be used.
func (sa *SA) Zero() {
	clear(sa.cfg.KEYMAT)
	clear(sa.cfg.AuthKey)
	sa.dead.Store(true)
}

// softExpire raises the soft-expire event once.
func (sa *SA) softExpire() {
	if sa.softHit.CompareAndSwap(false, true) {
		sa.stats.softExpired.Store(true)
		if sa.cfg.OnSoftExpire != nil {
			sa.cfg.OnSoftExpire(sa)
		}
	}
}

// account adds one packet of n octets to the lifetime counters and
// enforces the limits.
func (sa *SA) account(n int) bool {
	pkts := sa.stats.packets.Add(1)
	bytes := sa.stats.bytes.Add(uint64(n))
	l := &sa.cfg.Limits
	if (l.HardPackets > 0 && pkts >= l.HardPackets) || (l.HardBytes > 0 && bytes >= l.HardBytes) {
		sa.dead.Store(true)
	}
	if (l.SoftPackets > 0 && pkts >= l.SoftPackets) || (l.SoftBytes > 0 && bytes >= l.SoftBytes) {
		sa.softExpire()
	}
	return true
}
