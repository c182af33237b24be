package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/secylab/secylab/internal/secret"
)

// keyFlags are the three ways to give one key: --NAME hex on the command
// line, --NAME-file FILE or --NAME-env VAR. The file and the environment
// keep the key out of the shell history and the process list.
type keyFlags struct {
	name           string // the flag name, e.g. "sak"
	hex, file, env string
}

// newKeyFlags registers --name, --name-file and --name-env; what names the
// key in the help, e.g. "the SAK", and digits its length, e.g. "32 or 64".
func newKeyFlags(fs *pflag.FlagSet, name, what, digits string) *keyFlags {
	k := &keyFlags{name: name}
	fs.StringVar(&k.hex, name, "", fmt.Sprintf("%s as %s hex digits (visible in the process list: prefer --%s-file or --%s-env)", what, digits, name, name))
	fs.StringVar(&k.file, name+"-file", "", fmt.Sprintf("read %s as hex from `FILE` (mode 0600 or stricter)", what))
	fs.StringVar(&k.env, name+"-env", "", fmt.Sprintf("read %s as hex from the environment variable `VAR`", what))
	return k
}

// source is the flag the key was given with, for error messages.
func (k *keyFlags) source() string {
	switch {
	case k.file != "":
		return "--" + k.name + "-file"
	case k.env != "":
		return "--" + k.name + "-env"
	}
	return "--" + k.name
}

func (k *keyFlags) load() ([]byte, error) { return loadKey(k.name, k.hex, k.file, k.env) }

// loadKey reads a key given as hex in exactly one of three ways: on the
// command line (--flagName), in a file (--flagName-file) that only its owner
// can read, or in an environment variable (--flagName-env). Errors name the
// flag and never contain key material. All errors are usage errors.
func loadKey(flagName, hexValue, file, env string) ([]byte, error) {
	given := 0
	for _, s := range []string{hexValue, file, env} {
		if s != "" {
			given++
		}
	}
	switch {
	case given == 0:
		return nil, usagef("--%[1]s, --%[1]s-file or --%[1]s-env is required", flagName)
	case given > 1:
		return nil, usagef("give the key once: --%[1]s, --%[1]s-file and --%[1]s-env exclude each other", flagName)
	}

	flag, text := "--"+flagName, []byte(hexValue)
	switch {
	case file != "":
		flag = "--" + flagName + "-file"
		b, err := readKeyFile(file)
		if err != nil {
			return nil, usagef("%s: %w", flag, err)
		}
		text = b
	case env != "":
		flag = "--" + flagName + "-env"
		v, ok := os.LookupEnv(env)
		if !ok || strings.TrimSpace(v) == "" {
			return nil, usagef("%s %s: the environment variable is not set or empty", flag, env)
		}
		text = []byte(v)
	}
	defer clear(text)
	key, err := decodeHexBytes(text)
	if err != nil {
		return nil, usagef("%s: %v", flag, err)
	}
	return key, nil
}

// readKeyFile reads a key file by the one rule for key files
// (secret.ReadFile): a regular file that only its owner can read, mode
// 0600 (DESIGN.md section 4).
func readKeyFile(name string) ([]byte, error) { return secret.ReadFile(name) }

// decodeHex decodes hex digits, allowing a 0x prefix, white space and ':'
// or '-' separators. Its errors say what is wrong without quoting the input,
// which may be a key.
func decodeHex(s string) ([]byte, error) { return decodeHexBytes([]byte(s)) }

// decodeHexBytes is decodeHex on bytes the caller can clear; it clears its
// own copy of the digits.
func decodeHexBytes(b []byte) ([]byte, error) {
	b = bytes.TrimSpace(b)
	b = bytes.TrimPrefix(bytes.TrimPrefix(b, []byte("0x")), []byte("0X"))
	digits := make([]byte, 0, len(b))
	defer clear(digits[:cap(digits)])
	for i, c := range b {
		switch {
		case isHexDigit(c):
			digits = append(digits, c)
		case c == ':' || c == '-' || c == ' ' || c == '\t':
		default:
			return nil, fmt.Errorf("not hex: character %d is not a hex digit 0-9a-f", i+1)
		}
	}
	if len(digits) == 0 {
		return nil, errors.New("no hex digits")
	}
	if len(digits)%2 != 0 {
		return nil, fmt.Errorf("odd number of hex digits (%d): each octet needs two", len(digits))
	}
	out := make([]byte, len(digits)/2)
	if _, err := hex.Decode(out, digits); err != nil {
		return nil, err
	}
	return out, nil
}

func isHexDigit(r byte) bool {
	return '0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F'
}
