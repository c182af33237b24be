package ike

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// MODP groups: group 2 (RFC 2409 §6.2), group 14 (RFC 3526 §3), both with
// generator 2, and group 24 (RFC 5114 §2.3) with its own generator and a
// 256-bit prime-order subgroup.
const (
	modp1024P = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF"
	modp2048P = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF"
	modp24P   = "87A8E61DB4B6663CFFBBD19C651959998CEEF608660DD0F25D2CEED4435E3B00E00DF8F1D61957D4FAF7DF4561B2AA3016C3D91134096FAA3BF4296D830E9A7C209E0C6497517ABD5A8A9D306BCF67ED91F9E6725B4758C022E0B1EF4275BF7B6C5BFC11D45F9088B941F54EB1E59BB8BC39A0BF12307F5C4FDB70C581B23F76B63ACAE1CAA6B7902D52526735488A0EF13C6D9A51BFA4AB3AD8347796524D8EF6A167B5A41825D967E144E5140564251CCACB83E6B486F6B3CA3F7971506026C0B857F689962856DED4010ABD0BE621C3A3960A54E710C375F26375D7014103A4B54330C198AF126116D2276E11715F693877FAD7EF09CADB094AE91E1A1597"
	modp24G   = "3FB32C9B73134D0B2E77506660EDBD484CA7B18F21EF205407F4793A1A0BA12510DBC15077BE463FFF4FED4AAC0BB555BE3A6C1B0C6B47B1BC3773BF7E8C6F62901228F8C28CBB18A55AE31341000A650196F931C77A57F2DDF463E5E9EC144B777DE62AAAB8A8628AC376D282D6ED3864E67982428EBC831D14348F6F2F9193B5045AF2767164E1DFC967C1FB3F2E55A4BD1BFFE83B9C80D052B985D182EA0ADB2A3B7313D3FE14C8484B1E052588B9B7D2BBD2DF016199ECD06E1557CD0915B3353BBB64E0EC377FD028370DF92B52C7891428CDC67EB6184B523D1DB246C32F63078490F00EF8D647D148D47954515E2327CFEF98C582664B4C0F6CC41659"
	modp24Q   = "8CF83642A709A097B447997640129DA299B1A47D1EB3750BA308B0FE64F5FBD3"
)

type modpGroup struct {
	p, g, q *big.Int // q: the subgroup order, nil for the safe-prime groups
	expBits int      // private exponent length
}

func hexInt(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("ike: bad group constant")
	}
	return n
}

var modpGroups = map[DHGroup]*modpGroup{
	// Exponents of twice the groups' strength (RFC 3526 §8, NIST SP 800-57).
	MODP1024:     {p: hexInt(modp1024P), g: big.NewInt(2), expBits: 256},
	MODP2048:     {p: hexInt(modp2048P), g: big.NewInt(2), expBits: 256},
	MODP2048S256: {p: hexInt(modp24P), g: hexInt(modp24G), q: hexInt(modp24Q), expBits: 256},
}

func dhKnown(g DHGroup) bool {
	if _, ok := modpGroups[g]; ok {
		return true
	}
	return g == ECP256 || g == ECP384
}

// DH is one side of a Diffie-Hellman exchange.
type DH interface {
	Group() DHGroup
	// Public is the Key Exchange Data of the KE payload.
	Public() []byte
	// Shared is g^ir from the peer's Key Exchange Data.
	Shared(peer []byte) ([]byte, error)
}

// ErrBadKE is a peer's key exchange data that is not a valid public value
// of its group.
var ErrBadKE = errors.New("ike: invalid key exchange data")

// NewDH starts a Diffie-Hellman exchange in group g with a private value
// from r (nil: crypto/rand).
func NewDH(g DHGroup, r io.Reader) (DH, error) {
	if r == nil {
		r = rand.Reader
	}
	switch g {
	case ECP256, ECP384:
		c := ecdh.P256()
		if g == ECP384 {
			c = ecdh.P384()
		}
		// crypto/ecdh draws its own randomness for generated keys; derive
		// the scalar from r so a caller's reader is honoured.
		k, err := ecdhKey(c, r)
		if err != nil {
			return nil, err
		}
		return &ecpDH{group: g, curve: c, key: k}, nil
	}
	mg, ok := modpGroups[g]
	if !ok {
		return nil, fmt.Errorf("ike: DH group %v is not supported", g)
	}
	buf := make([]byte, mg.expBits/8)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	x := new(big.Int).SetBytes(buf)
	limit := mg.q
	if limit == nil {
		limit = new(big.Int).Rsh(mg.p, 1)
	}
	x.Mod(x, new(big.Int).Sub(limit, big.NewInt(2))).Add(x, big.NewInt(2)) // 2 ≤ x < limit
	return &modpDH{group: g, mg: mg, x: x}, nil
}

func ecdhKey(c ecdh.Curve, r io.Reader) (*ecdh.PrivateKey, error) {
	n := 32
	if c == ecdh.P384() {
		n = 48
	}
	buf := make([]byte, n)
	for range 100 {
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		if k, err := c.NewPrivateKey(buf); err == nil {
			return k, nil
		}
	}
	return nil, errors.New("ike: no valid ECDH private key from the random source")
}

type modpDH struct {
	group DHGroup
	mg    *modpGroup
	x     *big.Int
}

func (d *modpDH) Group() DHGroup { return d.group }

func (d *modpDH) Public() []byte {
	return new(big.Int).Exp(d.mg.g, d.x, d.mg.p).FillBytes(make([]byte, (d.mg.p.BitLen()+7)/8))
}

func (d *modpDH) Shared(peer []byte) ([]byte, error) {
	size := (d.mg.p.BitLen() + 7) / 8
	if len(peer) != size {
		return nil, fmt.Errorf("%w: %v public value of %d octets, want %d", ErrBadKE, d.group, len(peer), size)
	}
	y := new(big.Int).SetBytes(peer)
	pm1 := new(big.Int).Sub(d.mg.p, big.NewInt(1))
	// 1 < y < p-1 (RFC 6989 §2.1), and in the subgroup where it is small.
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pm1) >= 0 {
		return nil, fmt.Errorf("%w: %v public value out of range", ErrBadKE, d.group)
	}
	if d.mg.q != nil && new(big.Int).Exp(y, d.mg.q, d.mg.p).Cmp(big.NewInt(1)) != 0 {
		return nil, fmt.Errorf("%w: %v public value outside the subgroup (RFC 6989 §2.2)", ErrBadKE, d.group)
	}
	return new(big.Int).Exp(y, d.x, d.mg.p).FillBytes(make([]byte, size)), nil
}

type ecpDH struct {
	group DHGroup
	curve ecdh.Curve
	key   *ecdh.PrivateKey
}

func (d *ecpDH) Group() DHGroup { return d.group }

// Public is x || y without the point format octet (RFC 5903 §7).
func (d *ecpDH) Public() []byte { return d.key.PublicKey().Bytes()[1:] }

// Shared is the x coordinate of the shared point (RFC 5903 §7).
func (d *ecpDH) Shared(peer []byte) ([]byte, error) {
	pub, err := d.curve.NewPublicKey(append([]byte{4}, peer...))
	if err != nil {
		return nil, fmt.Errorf("%w: %v: %v", ErrBadKE, d.group, err)
	}
	return d.key.ECDH(pub)
}
