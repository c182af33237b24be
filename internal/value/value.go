// Package value holds the one parser of each value a user gives secylab —
// an on/off state, a cipher suite, a duration with its range, a loss
// percentage, a rate, a key source, a name — so that topology files,
// scenario steps, CLI flags and the lab's control socket spell them the same
// way. Enumerations are case-insensitive; a refusal names the allowed values.
//
// Each type is a flag value (pflag.Value: Set, String, Type), text for JSON
// (encoding.TextMarshaler and TextUnmarshaler) and a YAML scalar whose
// refusal carries its line.
package value

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/yamlx"
)

// Switch is an on/off state: Azure's Enabled/Disabled (sciState,
// adminState) or on/off, true/false, in any case.
type Switch bool

// SwitchValues names the spellings a Switch accepts.
const SwitchValues = "Enabled or Disabled (on or off)"

// ParseSwitch parses an on/off state.
func ParseSwitch(s string) (Switch, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "enabled", "on", "true":
		return true, nil
	case "disabled", "off", "false":
		return false, nil
	}
	return false, fmt.Errorf("%q: want %s", s, SwitchValues)
}

// String is Azure's spelling: Enabled or Disabled.
func (s Switch) String() string {
	if s {
		return expressroute.Enabled
	}
	return expressroute.Disabled
}

// OnOff is the state as on or off.
func (s Switch) OnOff() string {
	if s {
		return "on"
	}
	return "off"
}

func (s *Switch) Set(v string) (err error)       { *s, err = ParseSwitch(v); return err }
func (s Switch) Type() string                    { return "Enabled|Disabled" }
func (s Switch) MarshalText() ([]byte, error)    { return []byte(s.String()), nil }
func (s *Switch) UnmarshalText(b []byte) error   { return s.Set(string(b)) }
func (s *Switch) UnmarshalYAML(n ast.Node) error { return yamlx.Scalar(n, s.Set) }

// Enum parses s as one of allowed, case-insensitively, and returns the
// allowed spelling.
func Enum(s string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if strings.EqualFold(strings.TrimSpace(s), a) {
			return a, nil
		}
	}
	return "", fmt.Errorf("%q: want %s", s, orList(allowed))
}

func orList(s []string) string {
	switch len(s) {
	case 0:
		return "nothing"
	case 1:
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// CheckName reports why s is not a name of at most maxLen bytes made of
// lower-case letters, digits and inner hyphens, starting with a letter: the
// rule for lab, node and key names, which become file and interface names
// and so can never be paths.
func CheckName(s string, maxLen int) error {
	switch {
	case s == "":
		return fmt.Errorf("missing: want a name of 1 to %d characters [a-z0-9-]", maxLen)
	case len(s) > maxLen:
		return fmt.Errorf("%q is %d bytes, longer than %d (interface and namespace names derive from it)", s, len(s), maxLen)
	case s[0] < 'a' || s[0] > 'z':
		return fmt.Errorf("%q must start with a lower-case letter", s)
	case strings.HasSuffix(s, "-"):
		return fmt.Errorf("%q must not end with '-'", s)
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return fmt.Errorf("%q has %q: only a-z, 0-9 and '-' are allowed", s, r)
		}
	}
	return nil
}
