package ipsec

import "net/netip"

// Backend keeps a gateway's SAD and SPD and carries its traffic: the
// kernel's xfrm, or the userspace data plane. Its methods mirror
// `ip xfrm state|policy add|del|list`.
type Backend interface {
	// Name is "kernel" or "userspace".
	Name() string
	AddSA(SAConfig) error
	DelSA(spi uint32, dst netip.Addr) error
	AddPolicy(Policy) error
	DelPolicy(sel Selector, dir Direction) error
	States() ([]State, error)
	Policies() ([]Policy, error)
	Close() error
}

// State is an SA as a backend reports it: its configuration without the
// keying material, a fingerprint of that, and its counters.
type State struct {
	Config      SAConfig // KEYMAT is nil
	Fingerprint string
	SN          uint64 // the last SN sent (out) or the highest received (in)
	Stats       SAStats
	Expired     bool
}

// StateOf reports an SA.
func StateOf(sa *SA) State {
	cfg := sa.Config()
	cfg.KEYMAT, cfg.AuthKey, cfg.OnSoftExpire = nil, nil, nil
	return State{Config: cfg, Fingerprint: sa.Fingerprint(), SN: sa.SN(), Stats: sa.Stats(), Expired: sa.Expired()}
}

// Names of the backends.
const (
	BackendKernel    = "kernel"
	BackendUserspace = "userspace"
	BackendAuto      = "auto"
)
