package ipsec

import (
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	out, in := pair(t, 16, true, 64, 0)
	open(in, seal(t, out, ipv4(60, 1), NextHeaderIPv4))
	var b strings.Builder
	WriteStates(&b, []State{StateOf(out), StateOf(in)})
	s := b.String()
	for _, want := range []string{"proto esp spi 0x00001000 reqid 1 mode tunnel dir out", "flag esn", "aead rfc4106(gcm(aes)) key-fingerprint", "60(bytes), 1(packets)", "replay-window 0 replay 0 failed 0", "oseq 0x1"} {
		if !strings.Contains(s, want) {
			t.Fatalf("missing %q in\n%s", want, s)
		}
	}
	if strings.Contains(s, "0102") {
		t.Fatal("key material printed")
	}
	cbc, _ := cipherPair(t, AESCBCHMACSHA1, 16, false, 64, 0)
	b.Reset()
	WriteStates(&b, []State{StateOf(cbc)})
	if !strings.Contains(b.String(), "enc cbc(aes) auth-trunc hmac(sha1) 96 key-fingerprint") {
		t.Fatalf("CBC state:\n%s", b.String())
	}
}
