package conformance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Probe says what the running kernel can do, found by really trying.
type Probe struct {
	MACsec    bool
	MACsecWhy string // why not, when !MACsec
	ESP       bool
	ESPWhy    string
}

// Supports reports whether the kernel can run suite's cases, and if not why.
func (p Probe) Supports(suite string) (bool, string) {
	switch suite {
	case SuiteMACsec, SuiteMKA:
		return p.MACsec, p.MACsecWhy
	case SuiteIPsec:
		return p.ESP, p.ESPWhy
	}
	return false, "unknown suite " + suite
}

// RunProbe creates a scratch namespace and tries, in it, to create a MACsec
// link with a GCM-AES-XPN-128 SA on a veth and an rfc4106(gcm(aes)) ESP
// state. The namespace is deleted afterwards. It needs root.
func RunProbe(ctx context.Context) (Probe, error) {
	if os.Geteuid() != 0 {
		return Probe{}, errors.New("probe: needs root to create a network namespace")
	}
	ip, err := findIP()
	if err != nil {
		return Probe{}, err
	}
	l := newLab(ctx, ip)
	defer l.close()
	ns, err := l.namespace("p")
	if err != nil {
		return Probe{}, fmt.Errorf("probe: %w", err)
	}
	var p Probe
	key := strings.Repeat("01", 16)
	err = l.all(ns,
		[]string{"link", "add", "p0", "type", "veth", "peer", "name", "p1"},
		[]string{"link", "add", "link", "p0", "ms0", "type", "macsec", "port", "1", "encrypt", "on", "cipher", "gcm-aes-xpn-128"},
		[]string{"macsec", "add", "ms0", "tx", "sa", "0", "xpn", "1", "ssci", "1", "salt", strings.Repeat("02", 12), "on", "key", key, key},
	)
	if p.MACsec = err == nil; err != nil {
		p.MACsecWhy = "this kernel cannot create a MACsec link with a GCM-AES-XPN SA: " + firstLine(err.Error())
	}
	_, err = l.in(ns, "xfrm", "state", "add", "src", "10.0.0.1", "dst", "10.0.0.2", "proto", "esp", "spi", "0x100",
		"mode", "tunnel", "aead", "rfc4106(gcm(aes))", "0x"+strings.Repeat("03", 20), "128")
	if p.ESP = err == nil; err != nil {
		p.ESPWhy = "this kernel cannot install an rfc4106(gcm(aes)) ESP state: " + firstLine(err.Error())
	}
	return p, nil
}
