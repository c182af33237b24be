package macsec

import "testing"

// allocRuns is how many frames the allocation tests measure over.
const allocRuns = 200

// TestProtectAllocatesNothing: Protect of a 1500-octet frame allocates
// nothing, for every suite.
func TestProtectAllocatesNothing(t *testing.T) {
	for _, suite := range Suites {
		tx, _ := benchPair(t, suite)
		buf := make([]byte, Headroom+1500+ICVLen)
		if a := testing.AllocsPerRun(allocRuns, func() {
			if _, err := tx.Protect(buf, Headroom, 1500); err != nil {
				t.Fatal(err)
			}
		}); a != 0 {
			t.Errorf("%s: %v allocations per Protect", suite, a)
		}
	}
}

// TestValidateAllocatesNothing: Validate of a new 1500-octet frame (each
// with its own PN, so each is OK and goes through the replay window)
// allocates nothing, for every suite.
func TestValidateAllocatesNothing(t *testing.T) {
	for _, suite := range Suites {
		tx, rx := benchPair(t, suite)
		src := make([]byte, Headroom+1500+ICVLen)
		var frames [][]byte // AllocsPerRun calls once more to warm up
		for range allocRuns + 1 {
			prot, err := tx.Protect(src, Headroom, 1500)
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, append(make([]byte, RxHeadroom), prot...))
		}
		i := 0
		if a := testing.AllocsPerRun(allocRuns, func() {
			f := frames[i]
			i++
			if _, r := rx.Validate(f, RxHeadroom, len(f)-RxHeadroom); r != OK {
				t.Fatal(r)
			}
		}); a != 0 {
			t.Errorf("%s: %v allocations per Validate", suite, a)
		}
	}
}
