package fingerprint

import "testing"

func TestOf(t *testing.T) {
	key := []byte("0123456789abcdef")
	sak, cak := Of(SAK, key), Of(CAK, key)
	if len(sak) != 8 || sak != Of(SAK, append([]byte(nil), key...)) {
		t.Fatalf("Of(SAK) = %q: want 8 hex digits, the same for the same key", sak)
	}
	if sak == cak {
		t.Error("the kind does not separate the fingerprints")
	}
	if got := Of(SAK, nil); got != None {
		t.Errorf("Of(SAK, nil) = %q, want %q", got, None)
	}
}
