package mka

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

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

// ParsePSK parses a CKN and a CAK for suite; see ParseCKN and ParseCAK.
func ParsePSK(ckn, cak string, suite macsec.CipherSuite) (PSK, error) {
	n, err := ParseCKN(ckn)
	if err != nil {
		return PSK{}, err
	}
	k, err := ParseCAK(cak, suite)
	if err != nil {
		return PSK{}, err
	}
	return PSK{CKN: n, CAK: k}, nil
}

// GeneratePSK makes a new random PSK for suite: a 32-octet CKN (64 hex
// digits, the longest Azure takes) and a full-length CAK.
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

// Key file format: "CKN=<hex>" and "CAK=<hex>" lines; blank lines and lines
// starting with '#' are ignored.

// WritePSK writes k in the key file format. The output holds the raw CAK:
// write it only to a file created with mode 0600.
func WritePSK(w io.Writer, k PSK) error {
	var b bytes.Buffer
	b.WriteString("# MKA pre-shared key (static CAK). Keep this file mode 0600.\n")
	b.WriteString("CKN=" + k.CKN.String() + "\n")
	b.WriteString("CAK=" + strings.ToUpper(hex.EncodeToString(k.CAK.Bytes())) + "\n")
	_, err := w.Write(b.Bytes())
	clear(b.Bytes())
	return err
}

// LoadPSKFile reads a key file for suite. The file must not be readable or
// writable by group or others (mode 0600 or stricter).
func LoadPSKFile(path string, suite macsec.CipherSuite) (PSK, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return PSK{}, fmt.Errorf("key file %s: %w", path, err)
	}
	return ReadPSKFile(os.DirFS(filepath.Dir(abs)), filepath.Base(abs), suite)
}

// ReadPSKFile is LoadPSKFile on a file system, for tests and embedding.
func ReadPSKFile(fsys fs.FS, name string, suite macsec.CipherSuite) (PSK, error) {
	fi, err := fs.Stat(fsys, name)
	if err != nil {
		return PSK{}, fmt.Errorf("key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return PSK{}, fmt.Errorf("key file %s: not a regular file", name)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return PSK{}, fmt.Errorf("key file %s: mode %04o lets group or others access it; must be 0600 or stricter (chmod 600 %s)", name, perm, name)
	}
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return PSK{}, fmt.Errorf("key file: %w", err)
	}
	defer clear(data)
	k, err := parsePSKFile(data, suite)
	if err != nil {
		return PSK{}, fmt.Errorf("key file %s: %w", name, err)
	}
	return k, nil
}

func parsePSKFile(data []byte, suite macsec.CipherSuite) (PSK, error) {
	var ckn, cak string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' {
			continue
		}
		name, value, ok := strings.Cut(t, "=")
		switch name = strings.ToUpper(strings.TrimSpace(name)); {
		case !ok:
			return PSK{}, fmt.Errorf("line %d: want NAME=VALUE with NAME CKN or CAK", line)
		case name == "CKN" && ckn == "":
			ckn = value
		case name == "CAK" && cak == "":
			cak = value
		case name == "CKN" || name == "CAK":
			return PSK{}, fmt.Errorf("line %d: %s given twice", line, name)
		default:
			return PSK{}, fmt.Errorf("line %d: unknown name %q; want CKN or CAK", line, name)
		}
	}
	if ckn == "" || cak == "" {
		return PSK{}, errors.New("want both a CKN= and a CAK= line")
	}
	return ParsePSK(ckn, cak, suite)
}

// PSKFromEnv reads the CKN and CAK from the environment variables cknVar
// and cakVar through lookup (os.LookupEnv in production).
func PSKFromEnv(lookup func(string) (string, bool), cknVar, cakVar string, suite macsec.CipherSuite) (PSK, error) {
	ckn, ok := lookup(cknVar)
	if !ok {
		return PSK{}, fmt.Errorf("environment: %s is not set (want the CKN)", cknVar)
	}
	cak, ok := lookup(cakVar)
	if !ok {
		return PSK{}, fmt.Errorf("environment: %s is not set (want the CAK)", cakVar)
	}
	k, err := ParsePSK(ckn, cak, suite)
	if err != nil {
		return PSK{}, fmt.Errorf("environment %s/%s: %w", cknVar, cakVar, err)
	}
	return k, nil
}
