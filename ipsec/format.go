package ipsec

import (
	"fmt"
	"io"
)

// WriteStates writes SAs as `ip -s xfrm state` does, with the key shown
// only as a fingerprint.
func WriteStates(w io.Writer, states []State) error {
	for _, s := range states {
		c := s.Config
		fmt.Fprintf(w, "src %v dst %v\n", c.Src, c.Dst)
		fmt.Fprintf(w, "\tproto esp spi 0x%08x reqid %d mode %v dir %v\n", c.SPI, c.ReqID, c.Mode, c.Dir)
		flags := ""
		if c.ESN {
			flags = " flag esn"
		}
		fmt.Fprintf(w, "\treplay-window %d%s\n", c.ReplayWindow, flags)
		switch c.Cipher {
		case AESCBCHMACSHA1:
			fmt.Fprintf(w, "\tenc cbc(aes) auth-trunc hmac(sha1) 96 key-fingerprint %s\n", s.Fingerprint)
		case AESCBCHMACSHA256:
			fmt.Fprintf(w, "\tenc cbc(aes) auth-trunc hmac(sha256) 128 key-fingerprint %s\n", s.Fingerprint)
		default:
			fmt.Fprintf(w, "\taead rfc4106(gcm(aes)) key-fingerprint %s %d\n", s.Fingerprint, ICVLen*8)
		}
		if c.Encap == EncapUDP {
			fmt.Fprintf(w, "\tencap type espinudp sport %d dport %d addr 0.0.0.0\n", c.EncapSrcPort, c.EncapDstPort)
		}
		l := c.Limits
		fmt.Fprintf(w, "\tlifetime config:\n\t  limit: soft (%s)(bytes), hard (%s)(bytes)\n\t  limit: soft (%s)(packets), hard (%s)(packets)\n",
			limit(l.SoftBytes), limit(l.HardBytes), limit(l.SoftPackets), limit(l.HardPackets))
		fmt.Fprintf(w, "\tlifetime current:\n\t  %d(bytes), %d(packets)\n", s.Stats.Bytes, s.Stats.Packets)
		if c.Dir == DirOut {
			fmt.Fprintf(w, "\tanti-replay context: oseq 0x%x\n", s.SN)
		} else {
			fmt.Fprintf(w, "\tanti-replay context: seq 0x%x\n", s.SN)
		}
		st := s.Stats
		fmt.Fprintf(w, "\tstats:\n\t  replay-window %d replay %d failed %d\n", st.ReplayWindow, st.Replay, st.IntegrityFailed)
		if st.BadPadding+st.BadNextHeader+st.Dummy+st.Malformed+st.Expired > 0 || st.SoftExpired || s.Expired {
			fmt.Fprintf(w, "\t  bad-padding %d bad-next-header %d dummy %d malformed %d expired-drops %d soft-expired %v expired %v\n",
				st.BadPadding, st.BadNextHeader, st.Dummy, st.Malformed, st.Expired, st.SoftExpired, s.Expired)
		}
	}
	return nil
}

func limit(v uint64) string {
	if v == 0 {
		return "INF"
	}
	return fmt.Sprint(v)
}

// WritePolicies writes policies as `ip xfrm policy` does.
func WritePolicies(w io.Writer, ps []Policy) error {
	for _, p := range ps {
		fmt.Fprintf(w, "%v\n", p.Selector)
		action := "allow"
		if p.Action == ActionDiscard {
			action = "block"
		}
		fmt.Fprintf(w, "\tdir %v priority %d action %s\n", p.Dir, p.Priority, action)
		if p.Action == ActionProtect {
			fmt.Fprintf(w, "\ttmpl src %v dst %v\n\t\tproto esp reqid %d mode %v\n", p.Tmpl.Src, p.Tmpl.Dst, p.Tmpl.ReqID, p.Tmpl.Mode)
		}
	}
	return nil
}
