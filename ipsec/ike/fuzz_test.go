package ike

import (
	"bytes"
	"testing"
)

// FuzzParse feeds arbitrary datagrams to the codec and to the Encrypted
// payload of a keyed SA. Nothing may panic; what parses must re-encode to
// a message that parses to the same encoding; nothing but charon's genuine
// messages may open.
func FuzzParse(f *testing.F) {
	vs := loadKAT(f)
	type keyed struct {
		c       *Crypter
		genuine []byte
	}
	var crypters []keyed
	for _, v := range vs {
		for _, h := range []string{v.InitReq, v.InitResp, v.AuthReq, v.AuthResp} {
			f.Add(unhex(f, h), uint8(len(crypters)))
		}
		req, _ := Parse(unhex(f, v.InitReq))
		resp, _ := Parse(unhex(f, v.InitResp))
		s, _ := SuiteOf(Get[*SA](resp).Proposals[0])
		k := DeriveIKEKeys(s, Get[*Nonce](req).Data, Get[*Nonce](resp).Data, unhex(f, v.GIR), req.SPIi, resp.SPIr)
		c, err := NewCrypter(s, k.SKei, k.SKai)
		if err != nil {
			f.Fatal(err)
		}
		crypters = append(crypters, keyed{c, unhex(f, v.AuthReq)})
	}
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		once := m.Marshal()
		m2, err := Parse(once)
		if err != nil {
			t.Fatalf("re-encoded %v does not parse: %v\n%x", m, err, once)
		}
		if twice := m2.Marshal(); !bytes.Equal(once, twice) {
			t.Fatalf("encoding is not stable:\n%x\n%x", once, twice)
		}
		k := crypters[int(which)%len(crypters)]
		if err := k.c.Open(m, b); err == nil && !bytes.Equal(b[:m.Length], k.genuine) {
			t.Fatalf("opened a message that is not genuine: %x", b)
		}
	})
}
