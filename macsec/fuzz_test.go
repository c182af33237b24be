package macsec

import (
	"bytes"
	"testing"
)

// FuzzSecTAG decodes and checks arbitrary frames: never a panic, and a tag
// that passes the 9.12 checks is consistent with the frame it came from.
func FuzzSecTAG(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(mustHex(f, v.Protected), v.Suite == "GCM-AES-XPN-128")
	}
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, frame []byte, xpn bool) {
		tag, err := ParseSecTAG(frame)
		if err != nil {
			return
		}
		if err := tag.Check(len(frame), xpn); err != nil {
			return
		}
		if tag.TCI&TCIV != 0 || (tag.HasSCI() && tag.TCI&(TCIES|TCISCB) != 0) || (!xpn && tag.PN == 0) {
			t.Fatalf("invalid tag passed the checks: %+v", tag)
		}
		secure := len(frame) - addrLen - tag.Len() - ICVLen
		if secure < 1 || (tag.SL != 0 && int(tag.SL) != secure) || (tag.SL == 0 && secure < minNonShortLen) {
			t.Fatalf("length check: secure data %d, SL %d", secure, tag.SL)
		}
	})
}

// FuzzValidate feeds arbitrary frames to strict receivers of each suite
// whose SA is that of the vectors. Validate must never panic, must deliver
// nothing it did not validate, and must accept no frame other than the
// genuine protected ones it was seeded with: changing any bit of a frame
// must not get it through.
func FuzzValidate(f *testing.F) {
	genuine := map[string]bool{}
	type rx struct {
		v   vector
		cfg Config
	}
	var receivers []rx
	for _, v := range loadVectors(f) {
		if !v.Verified || (v.Mode != "confidentiality" && v.Mode != "integrity") {
			continue
		}
		p := mustHex(f, v.Protected)
		genuine[string(p)] = true
		f.Add(p, uint8(len(receivers)))
		cfg := v.config(f)
		cfg.ReplayProtect = true
		receivers = append(receivers, rx{v, cfg})
	}
	f.Fuzz(func(t *testing.T, frame []byte, which uint8) {
		r := receivers[int(which)%len(receivers)]
		y := r.v.receiver(t, r.cfg, 1)
		buf := bytes.Clone(frame)
		out, res := y.Validate(buf, 0, len(buf))
		if res.Delivered() != (out != nil) && res != KaY {
			t.Fatalf("result %v with output %x", res, out)
		}
		if !res.Delivered() {
			return
		}
		if res != OK && res != Delayed {
			t.Fatalf("strict receiver delivered %v", res)
		}
		if !genuine[string(frame)] {
			t.Fatalf("a frame that was never protected validated: %x", frame)
		}
	})
}
