package expressroute

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
)

// Key is a MACsec pre-shared key as Azure takes it for a port's link: the
// CKN and CAK Key Vault secrets, read for a cipher (lab-anchors §1.2). It
// prints as the CKN and a fingerprint of the CAK, never the CAK.
//
// Azure's rule, the one rule of every command and check that reads a key
// (key files: secret.LoadKey):
//   - CKN: an even number of hex digits, 2 to 64 (MaxCKNHexDigits).
//   - CAK: an even number of hex digits, not all zeros, at most
//     CAKHexDigits(cipher): 32 for GcmAes128/GcmAesXpn128, 64 for
//     GcmAes256/GcmAesXpn256. A shorter CAK is padded with trailing '0'
//     digits to the full length ("1234" → "12340000…"), as Azure does; the
//     key says so (Padded, Notice).
type Key struct {
	mka.PSK
	Suite macsec.CipherSuite
	// CAKDigits is the number of hex digits of the CAK secret as given;
	// fewer than CAKHexDigits(Suite) were padded with '0's.
	CAKDigits int
}

// Padded reports whether Azure's zero padding made up part of the CAK.
func (k Key) Padded() bool { return k.CAKDigits < CAKHexDigits(k.Suite) }

// Notice says how the CAK was padded, or "" when it was not.
func (k Key) Notice() string {
	if !k.Padded() {
		return ""
	}
	want := CAKHexDigits(k.Suite)
	return fmt.Sprintf("CAK: %d hex digits; %s takes %d: padded with %d trailing zeros, as Azure does (a %d-bit key of which %d bits are secret)",
		k.CAKDigits, k.Suite.AzureName(), want, want-k.CAKDigits, 4*want, 4*k.CAKDigits)
}

// ForSuite is the key as Azure reads the same secrets for another cipher:
// the CAK as given, padded again or refused as too long.
func (k Key) ForSuite(suite macsec.CipherSuite) (Key, error) {
	if suite == k.Suite {
		return k, nil
	}
	given := k.CAK.Bytes()[:k.CAKDigits/2]
	digits := make([]byte, hex.EncodedLen(len(given)))
	hex.Encode(digits, given)
	defer clear(digits)
	cak, n, err := ParseCAK(digits, suite)
	if err != nil {
		return Key{}, err
	}
	return Key{PSK: mka.PSK{CKN: k.CKN, CAK: cak}, Suite: suite, CAKDigits: n}, nil
}

// ParseCKN parses a CKN secret by Azure's rule.
func ParseCKN(s string) (mka.CKN, error) {
	s = strings.TrimSpace(s)
	n, err := hexDigits("CKN", []byte(s))
	switch {
	case err != nil:
		return nil, err
	case n > MaxCKNHexDigits:
		return nil, fmt.Errorf("CKN: %d hex digits: at most %d", n, MaxCKNHexDigits)
	}
	b, _ := hex.DecodeString(s)
	return mka.CKN(b), nil
}

// ParseCAK parses a CAK secret for suite by Azure's rule and returns the
// key and the number of digits given. The caller clears digits.
func ParseCAK(digits []byte, suite macsec.CipherSuite) (mka.CAK, int, error) {
	if !suite.Valid() {
		return mka.CAK{}, 0, fmt.Errorf("CAK: unknown cipher suite %#016x", uint64(suite))
	}
	digits = bytes.TrimSpace(digits)
	want := CAKHexDigits(suite)
	n, err := hexDigits("CAK", digits)
	switch {
	case err != nil:
		return mka.CAK{}, 0, err
	case n > want:
		return mka.CAK{}, 0, fmt.Errorf("CAK: %d hex digits: %s takes %d (%s)", n, suite.AzureName(), want, cakLengths)
	}
	key := make([]byte, suite.KeyLen()) // the padding: trailing zero octets
	hex.Decode(key, digits)
	cak, err := mka.NewCAK(key)
	if err != nil {
		return mka.CAK{}, 0, err
	}
	if cak.IsZero() {
		return mka.CAK{}, 0, errors.New("CAK: all zeros: not a key")
	}
	return cak, n, nil
}

const cakLengths = "32 hex digits for GcmAes128 and GcmAesXpn128, 64 for GcmAes256 and GcmAesXpn256"

// hexDigits counts the hex digits of a secret: at least two, an even
// number, nothing else. Its errors never quote the secret.
func hexDigits(field string, s []byte) (int, error) {
	for i, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return 0, fmt.Errorf("%s: must be hex digits (0-9, a-f): character %d is not", field, i+1)
		}
	}
	switch {
	case len(s) == 0:
		return 0, fmt.Errorf("%s: empty", field)
	case len(s)%2 != 0:
		return 0, fmt.Errorf("%s: odd number of hex digits (%d): each octet takes two", field, len(s))
	}
	return len(s), nil
}

// ParseKey parses a CKN and a CAK secret for suite by Azure's rule. The
// caller clears cak.
func ParseKey(ckn string, cak []byte, suite macsec.CipherSuite) (Key, error) {
	n, err := ParseCKN(ckn)
	if err != nil {
		return Key{}, err
	}
	k, digits, err := ParseCAK(cak, suite)
	if err != nil {
		return Key{}, err
	}
	return Key{PSK: mka.PSK{CKN: n, CAK: k}, Suite: suite, CAKDigits: digits}, nil
}

// Key file format: "CKN=<hex>" and "CAK=<hex>" lines, the two Key Vault
// secrets; blank lines and lines starting with '#' are ignored. Files are
// read by internal/secret (LoadKey): a regular file of mode 0600, then
// ParseKeyFile.

// ParseKeyFile parses the content of a key file for suite.
func ParseKeyFile(data []byte, suite macsec.CipherSuite) (Key, error) {
	var ckn string
	var cak []byte
	defer func() { clear(cak) }()
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		t := bytes.TrimSpace(sc.Bytes())
		if len(t) == 0 || t[0] == '#' {
			continue
		}
		name, value, ok := bytes.Cut(t, []byte("="))
		switch n := strings.ToUpper(string(bytes.TrimSpace(name))); {
		case !ok:
			return Key{}, fmt.Errorf("line %d: want NAME=VALUE with NAME CKN or CAK", line)
		case n == "CKN" && ckn == "":
			ckn = string(value)
		case n == "CAK" && cak == nil:
			cak = append([]byte{}, value...)
		case n == "CKN" || n == "CAK":
			return Key{}, fmt.Errorf("line %d: %s given twice", line, n)
		default:
			return Key{}, fmt.Errorf("line %d: unknown name: want CKN= or CAK=", line)
		}
	}
	if err := sc.Err(); err != nil {
		return Key{}, err
	}
	if ckn == "" || cak == nil {
		return Key{}, errors.New("want both a CKN= and a CAK= line")
	}
	return ParseKey(ckn, cak, suite)
}

// WriteKeyFile writes k in the key file format. The output holds the raw
// CAK: write it only to a file created with mode 0600.
func WriteKeyFile(w io.Writer, k mka.PSK) error {
	var b bytes.Buffer
	b.WriteString("# MKA pre-shared key (static CAK). Keep this file mode 0600.\n")
	b.WriteString("CKN=" + k.CKN.String() + "\n")
	b.WriteString("CAK=")
	cak := make([]byte, hex.EncodedLen(k.CAK.Len()))
	hex.Encode(cak, k.CAK.Bytes())
	for i, c := range cak {
		if 'a' <= c && c <= 'f' {
			cak[i] = c - 'a' + 'A'
		}
	}
	b.Write(cak)
	clear(cak)
	b.WriteString("\n")
	_, err := w.Write(b.Bytes())
	clear(b.Bytes())
	return err
}
