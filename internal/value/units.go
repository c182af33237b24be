package value

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"

	"github.com/secylab/secylab/internal/yamlx"
	"github.com/secylab/secylab/macsec"
)

// Cipher is a MACsec cipher suite by Azure's name (GcmAesXpn256), the
// 802.1AE name (GCM-AES-XPN-256) or iproute2's, in any case.
type Cipher macsec.CipherSuite

// CipherValues names the spellings a Cipher accepts.
const CipherValues = "GcmAes128, GcmAes256, GcmAesXpn128 or GcmAesXpn256 (or the 802.1AE names GCM-AES-128 …)"

// ParseCipher parses a cipher suite.
func ParseCipher(s string) (Cipher, error) {
	cs, err := macsec.ParseCipherSuite(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want %s", s, CipherValues)
	}
	return Cipher(cs), nil
}

// Suite is the cipher suite.
func (c Cipher) Suite() macsec.CipherSuite { return macsec.CipherSuite(c) }

// String is Azure's name, "" for none.
func (c Cipher) String() string {
	if c == 0 {
		return ""
	}
	return c.Suite().AzureName()
}

func (c *Cipher) Set(v string) (err error)       { *c, err = ParseCipher(v); return err }
func (c Cipher) Type() string                    { return "cipher" }
func (c Cipher) MarshalText() ([]byte, error)    { return []byte(c.String()), nil }
func (c *Cipher) UnmarshalText(b []byte) error   { return c.Set(string(b)) }
func (c *Cipher) UnmarshalYAML(n ast.Node) error { return yamlx.Scalar(n, c.Set) }

// Duration is a Go duration such as 5ms or 1.5s.
type Duration time.Duration

// ParseDuration parses a non-negative duration.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration: want a non-negative number with a unit, e.g. 5ms, 200us, 1s", s)
	}
	return d, nil
}

func (d Duration) D() time.Duration { return time.Duration(d) }
func (d Duration) String() string   { return time.Duration(d).String() }
func (d *Duration) Set(v string) error {
	x, err := ParseDuration(v)
	*d = Duration(x)
	return err
}
func (d Duration) Type() string                    { return "duration" }
func (d Duration) MarshalText() ([]byte, error)    { return []byte(d.String()), nil }
func (d *Duration) UnmarshalText(b []byte) error   { return d.Set(string(b)) }
func (d *Duration) UnmarshalYAML(n ast.Node) error { return yamlx.Scalar(n, d.Set) }

// Range bounds a duration: Min ≤ d ≤ Max.
type Range struct{ Min, Max time.Duration }

// Check refuses d outside the range.
func (r Range) Check(d time.Duration) error {
	if d < r.Min || d > r.Max {
		return fmt.Errorf("%v is out of range: want %v", d, r)
	}
	return nil
}

func (r Range) String() string { return fmt.Sprintf("%v to %v", r.Min, r.Max) }

// DurationFlag is a flag.Value for a duration within a range: a value
// outside is refused when the flag is parsed, naming the range.
type DurationFlag struct {
	P     *time.Duration
	Range Range
}

func (f DurationFlag) String() string {
	if f.P == nil {
		return "0s"
	}
	return f.P.String()
}
func (f DurationFlag) Type() string { return "duration" }
func (f DurationFlag) Set(v string) error {
	d, err := ParseDuration(v)
	if err == nil {
		err = f.Range.Check(d)
	}
	if err != nil {
		return err
	}
	*f.P = d
	return nil
}

// Loss is the share of frames lost, 0 to 1, written as a percentage:
// "1%", "0.5%".
type Loss float64

// ParseLoss parses a loss percentage.
func ParseLoss(s string) (Loss, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if !ok || err != nil || math.IsNaN(v) || v < 0 || v > 100 {
		return 0, fmt.Errorf("%q is not a loss percentage: want 0%% to 100%%, e.g. 1%% or 0.5%%", s)
	}
	return Loss(v / 100), nil
}

func (l Loss) String() string                  { return strconv.FormatFloat(float64(l)*100, 'g', 4, 64) + "%" }
func (l *Loss) Set(v string) (err error)       { *l, err = ParseLoss(v); return err }
func (l Loss) Type() string                    { return "percent" }
func (l Loss) MarshalText() ([]byte, error)    { return []byte(l.String()), nil }
func (l *Loss) UnmarshalText(b []byte) error   { return l.Set(string(b)) }
func (l *Loss) UnmarshalYAML(n ast.Node) error { return yamlx.Scalar(n, l.Set) }

// Rate is a bit rate in tc's units (bit, kbit, Mbit, Gbit, Tbit; case does
// not matter), or "unlimited" (0). A rate between 1 kbit/s and 1 Tbit/s;
// a bare 0 is refused: it could mean no limit or no traffic.
type Rate uint64

// Rate bounds.
const (
	MinRate = 1000
	MaxRate = 1e12
)

var rateUnits = []struct {
	suffix string
	mult   float64
}{
	// Longest first so that "kbit" is not read as "bit".
	{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1},
}

// ParseRate parses a bit rate.
func ParseRate(s string) (Rate, error) {
	low := strings.ToLower(strings.TrimSpace(s))
	if low == "unlimited" {
		return 0, nil
	}
	for _, u := range rateUnits {
		num, ok := strings.CutSuffix(low, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		bps := v * u.mult
		if err != nil || math.IsNaN(v) || bps < MinRate || bps > MaxRate {
			break
		}
		return Rate(bps), nil
	}
	return 0, fmt.Errorf("%q is not a rate: want 1kbit to 1Tbit with a unit bit, kbit, Mbit, Gbit or Tbit, e.g. 100Mbit, or unlimited", s)
}

// String prints the rate in the largest whole-ish tc unit.
func (r Rate) String() string {
	if r == 0 {
		return "unlimited"
	}
	for _, u := range []struct {
		name string
		mult uint64
	}{{"Tbit", 1e12}, {"Gbit", 1e9}, {"Mbit", 1e6}, {"kbit", 1e3}} {
		if uint64(r) >= u.mult && uint64(r)%(u.mult/1000) == 0 {
			return strconv.FormatFloat(float64(r)/float64(u.mult), 'f', -1, 64) + u.name
		}
	}
	return strconv.FormatUint(uint64(r), 10) + "bit"
}

func (r *Rate) Set(v string) (err error)       { *r, err = ParseRate(v); return err }
func (r Rate) Type() string                    { return "rate" }
func (r Rate) MarshalText() ([]byte, error)    { return []byte(r.String()), nil }
func (r *Rate) UnmarshalText(b []byte) error   { return r.Set(string(b)) }
func (r *Rate) UnmarshalYAML(n ast.Node) error { return yamlx.Scalar(n, r.Set) }

// MaxKeyName bounds the name of a lab's generated key.
const MaxKeyName = 32

// KeySource says where a CAK/CKN comes from: "generate:NAME", the lab's
// generated key NAME (made on first use, so both ends can be given the same
// key by name), or an absolute path to a key file (0600).
type KeySource struct {
	Generate string // the key's name
	File     string
}

// ParseKeySource parses generate:NAME or a key file's path. A key name
// follows the name rule (never a path); a relative file is made absolute.
func ParseKeySource(s string) (KeySource, error) {
	if name, ok := strings.CutPrefix(s, "generate:"); ok {
		if err := CheckName(name, MaxKeyName); err != nil {
			return KeySource{}, fmt.Errorf("key name %w: a key name is a name, not a path", err)
		}
		return KeySource{Generate: name}, nil
	}
	if s == "" {
		return KeySource{}, fmt.Errorf("missing: want generate:NAME or a key file")
	}
	abs, err := filepath.Abs(s)
	if err != nil {
		return KeySource{}, err
	}
	return KeySource{File: abs}, nil
}

// IsZero reports whether no key is given.
func (k KeySource) IsZero() bool { return k == KeySource{} }

func (k KeySource) String() string {
	if k.Generate != "" {
		return "generate:" + k.Generate
	}
	return k.File
}

func (k *KeySource) Set(v string) (err error)       { *k, err = ParseKeySource(v); return err }
func (k KeySource) Type() string                    { return "generate:NAME|FILE" }
func (k KeySource) MarshalText() ([]byte, error)    { return []byte(k.String()), nil }
func (k *KeySource) UnmarshalText(b []byte) error   { return k.Set(string(b)) }
func (k *KeySource) UnmarshalYAML(n ast.Node) error { return yamlx.Scalar(n, k.Set) }
