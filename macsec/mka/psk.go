package mka

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/secylab/secylab/macsec"
)

// PSK is a pre-shared connectivity association key: the CAK and its name,
// as configured on both ends of a link.
type PSK struct {
	CKN CKN
	CAK CAK
}

// Zero erases the CAK.
func (k *PSK) Zero() { k.CAK.Zero() }

func (k PSK) String() string { return "CKN " + k.CKN.String() + " " + k.CAK.String() }

// GoString, Format and LogValue keep the CAK out of every printed form.
func (k PSK) GoString() string           { return k.String() }
func (k PSK) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }
func (k PSK) LogValue() slog.Value       { return slog.StringValue(k.String()) }

// GeneratePSK makes a new random PSK for suite: a 32-octet CKN (64 hex
// digits, the longest Azure takes) and a full-length CAK. Key files and
// Azure's rule for them are expressroute's and internal/secret's.
func GeneratePSK(rand io.Reader, suite macsec.CipherSuite) (PSK, error) {
	if !suite.Valid() {
		return PSK{}, fmt.Errorf("PSK: unknown cipher suite %#016x", uint64(suite))
	}
	b := make([]byte, MaxCKNLen+suite.KeyLen())
	if _, err := io.ReadFull(rand, b); err != nil {
		return PSK{}, fmt.Errorf("PSK: reading random bits: %w", err)
	}
	cak, _ := NewCAK(b[MaxCKNLen:])
	return PSK{CKN: CKN(b[:MaxCKNLen]), CAK: cak}, nil
}
