package conformance

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/secylab/secylab/internal/fingerprint"
	"github.com/secylab/secylab/macsec"
)

// kernelSecY is a Linux macsec device, configured with iproute2.
type kernelSecY struct {
	l     *testbed
	ns    string
	dev   string
	suite macsec.CipherSuite
}

// kernelSecYConfig is what `ip link add … type macsec` takes.
type kernelSecYConfig struct {
	suite   macsec.CipherSuite
	sendSCI bool
	replay  bool
	window  uint32
}

func iprouteCipher(s macsec.CipherSuite) string { return strings.ToLower(s.String()) }

// newKernelSecY creates dev on lower in ns: port 1 (so the SCI is the
// lower device's MAC ‖ 0001), encryption on.
func (l *testbed) newKernelSecY(ns, lower, dev string, c kernelSecYConfig) (*kernelSecY, error) {
	args := []string{"link", "add", "link", lower, dev, "type", "macsec", "port", "1", "encrypt", "on",
		"cipher", iprouteCipher(c.suite)}
	if !c.sendSCI {
		args = append(args, "send_sci", "off")
	}
	if c.replay {
		args = append(args, "replay", "on", "window", fmt.Sprint(c.window))
	}
	if _, err := l.in(ns, args...); err != nil {
		return nil, err
	}
	return &kernelSecY{l: l, ns: ns, dev: dev, suite: c.suite}, nil
}

// saOpts is the PN and, for XPN, the SSCI and salt of an SA, as ip
// macsec wants them.
func (k *kernelSecY) saOpts(pn uint64, key macsec.Key) []string {
	if !k.suite.XPN() {
		return []string{"pn", fmt.Sprint(pn)}
	}
	return []string{"xpn", fmt.Sprint(pn), "ssci", fmt.Sprint(uint32(key.SSCI)), "salt", key.Salt.String()}
}

// keyArgs are "key <KEYID> <KEY>"; the key identifier is 16 octets, here
// derived from the key's fingerprint (MKA would put KI = MI ‖ KN there).
func keyArgs(key macsec.Key) []string {
	id := (fingerprint.Of(fingerprint.SAK, key.SAK) + strings.Repeat("0", 32))[:32]
	return []string{"key", id, hex.EncodeToString(key.SAK)}
}

func (k *kernelSecY) addTxSA(an uint8, pn uint64, key macsec.Key) error {
	args := append([]string{"macsec", "add", k.dev, "tx", "sa", fmt.Sprint(an)}, k.saOpts(pn, key)...)
	_, err := k.l.in(k.ns, append(append(args, "on"), keyArgs(key)...)...)
	return err
}

func (k *kernelSecY) addRxSC(sci macsec.SCI) error {
	_, err := k.l.in(k.ns, "macsec", "add", k.dev, "rx", "sci", sci.String(), "on")
	return err
}

func (k *kernelSecY) addRxSA(sci macsec.SCI, an uint8, pn uint64, key macsec.Key) error {
	args := append([]string{"macsec", "add", k.dev, "rx", "sci", sci.String(), "sa", fmt.Sprint(an)}, k.saOpts(pn, key)...)
	_, err := k.l.in(k.ns, append(append(args, "on"), keyArgs(key)...)...)
	return err
}

// setTxPN moves the next PN of a transmit SA, backwards too (the kernel
// allows it; that is how the replay case makes it send old PNs).
func (k *kernelSecY) setTxPN(an uint8, pn uint64) error {
	kw := "pn"
	if k.suite.XPN() {
		kw = "xpn"
	}
	_, err := k.l.in(k.ns, "macsec", "set", k.dev, "tx", "sa", fmt.Sprint(an), kw, fmt.Sprint(pn), "on")
	return err
}

func (k *kernelSecY) setEncodingSA(an uint8) error {
	_, err := k.l.in(k.ns, "link", "set", k.dev, "type", "macsec", "encodingsa", fmt.Sprint(an))
	return err
}

// kernelStats are the counters of `ip -s macsec show`, keyed by where they
// were printed: "secy.InPktsNoSCI", "txsc.OutPktsEncrypted",
// "txsa0.OutPktsEncrypted", "rxsc.InPktsOK" (summed over the receive SCs),
// "rxsa1.InPktsOK", and the SAs' next PNs as "txsa0.PN", "rxsa0.PN" (only
// the low 32 bits for XPN: iproute2 6.1 prints no more).
type kernelStats map[string]uint64

func (k *kernelSecY) stats() (kernelStats, string, error) {
	out, err := k.l.in(k.ns, "-s", "macsec", "show", k.dev)
	if err != nil {
		return nil, out, err
	}
	st, err := parseMACsecShow(out)
	if err != nil {
		return nil, out, fmt.Errorf("ip -s macsec show %s: %w\n%s", k.dev, err, out)
	}
	return st, out, nil
}

var saLine = regexp.MustCompile(`^\s*([0-3]): PN (\d+)`)

// parseMACsecShow reads iproute2's text: a "stats:" line of counter names
// is followed by a line of values; they belong to the transmit SC after
// "TXSC:" (but the SecY's own, which iproute2 prints there too, start with
// OutPktsUntagged), to an SA after its "0: PN 6, state on, …" line, and to
// the receive SC after "RXSC:".
func parseMACsecShow(out string) (kernelStats, error) {
	st := kernelStats{}
	section, area := "secy", "tx"
	var names []string
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		switch {
		case len(f) == 0:
			continue
		case names != nil:
			if len(f) != len(names) {
				return nil, fmt.Errorf("%d counter names but %d values: %q", len(names), len(f), line)
			}
			sec := section
			if names[0] == "OutPktsUntagged" { // the SecY's, printed under TXSC
				sec = "secy"
			}
			for i, n := range names {
				v, err := strconv.ParseUint(f[i], 10, 64)
				if err != nil {
					return nil, fmt.Errorf("counter %s: %w", n, err)
				}
				st[sec+"."+n] += v
			}
			names = nil
		case f[0] == "stats:":
			names = f[1:]
		case f[0] == "TXSC:":
			section, area = "txsc", "tx"
		case f[0] == "RXSC:":
			section, area = "rxsc", "rx"
		default:
			if m := saLine.FindStringSubmatch(line); m != nil {
				section = area + "sa" + m[1]
				pn, _ := strconv.ParseUint(m[2], 10, 64)
				st[section+".PN"] = pn
			}
		}
	}
	if len(st) == 0 {
		return nil, fmt.Errorf("no counters in the output")
	}
	return st, nil
}
