package ipsec

// Result is what Open did with a packet: OK delivers the inner packet,
// everything else drops it, and each drop has its counter.
type Result uint8

const (
	OK              Result = iota // authenticated, delivered
	Dummy                         // next header 59: discarded silently (RFC 4303 §2.6)
	NoSA                          // no SA for the SPI (RFC 4303 §3.4.2)
	Malformed                     // too short, or the SPI does not match the SA
	Expired                       // the SA stopped: limit reached or SN space exhausted
	ReplayOld                     // SN left of the window (xfrm "replay-window")
	ReplayDuplicate               // SN already received (xfrm "replay")
	IntegrityFailed               // the ICV did not verify (xfrm "failed")
	BadPadding                    // pad length too long or pad bytes not 1, 2, 3, … (RFC 4303 §2.4)
	BadNextHeader                 // not IPv4 (4) or IPv6 (41) in tunnel mode, or not what the inner packet is
	PolicyMismatch                // the inner packet is not one the SA's policy admits (RFC 4301 §5.2)
)

var resultNames = [...]string{
	OK:              "ok",
	Dummy:           "dummy packet (next header 59), discarded",
	NoSA:            "no SA for the SPI",
	Malformed:       "malformed ESP packet",
	Expired:         "SA expired",
	ReplayOld:       "SN left of the replay window",
	ReplayDuplicate: "SN replayed",
	IntegrityFailed: "ICV check failed",
	BadPadding:      "bad padding",
	BadNextHeader:   "bad next header",
	PolicyMismatch:  "inner packet does not match the policy",
}

func (r Result) String() string {
	if int(r) < len(resultNames) {
		return resultNames[r]
	}
	return "unknown result"
}

// NumResults is the number of Result values, for arrays of counters.
const NumResults = int(PolicyMismatch) + 1
