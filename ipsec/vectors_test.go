package ipsec

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"os"
	"testing"
)

// vector is one entry of testdata/esp-gcm-vectors.json.
type vector struct {
	Name        string  `json:"name"`
	Key         string  `json:"key_hex"`
	Salt        string  `json:"salt_hex"`
	SPI         string  `json:"spi_hex"`
	Seq         uint32  `json:"seq"`
	ESNHigh     *uint32 `json:"esn_high"`
	IV          string  `json:"iv_hex"`
	Plaintext   string  `json:"plaintext_hex"`
	Ciphertext  string  `json:"ciphertext_hex"`
	ICV         string  `json:"icv_hex"`
	Full        string  `json:"full_esp_packet_hex"`
	Constructed string  `json:"esp_packet_hex_constructed"`
	Outer       string  `json:"outer_ip_packet_hex"`
	Inner       string  `json:"inner_packet_hex"`
	Mode        string  `json:"mode"`
	PadLength   int     `json:"pad_length"`
	NextHeader  byte    `json:"next_header"`
	Verified    bool    `json:"verified"`
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	b, err := os.ReadFile("../testdata/esp-gcm-vectors.json")
	if err != nil {
		tb.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		tb.Fatal(err)
	}
	if len(vs) != 27 {
		tb.Fatalf("%d vectors, want 27", len(vs))
	}
	return vs
}

func mustHex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func (v *vector) esp(tb testing.TB) []byte {
	if v.Full != "" {
		return mustHex(tb, v.Full)
	}
	return mustHex(tb, v.Constructed)
}

// sn is the vector's full sequence number.
func (v *vector) sn() uint64 {
	if v.ESNHigh != nil {
		return uint64(*v.ESNHigh)<<32 | uint64(v.Seq)
	}
	return uint64(v.Seq)
}

func (v *vector) config(tb testing.TB, dir Direction) SAConfig {
	tb.Helper()
	return SAConfig{
		SPI:          binary.BigEndian.Uint32(mustHex(tb, v.SPI)),
		Src:          netip.MustParseAddr("192.0.2.1"),
		Dst:          netip.MustParseAddr("192.0.2.2"),
		Dir:          dir,
		KEYMAT:       append(mustHex(tb, v.Key), mustHex(tb, v.Salt)...),
		ReplayWindow: 64,
		ESN:          v.ESNHigh != nil,
	}
}

// receiver is an inbound SA whose window puts the vector's SN at its
// right edge.
func (v *vector) receiver(tb testing.TB) *SA {
	tb.Helper()
	cfg := v.config(tb, DirIn)
	if sn := v.sn(); sn > 0 {
		cfg.InitialSN = sn - 1
	}
	sa, err := newSA(cfg)
	if err != nil {
		tb.Fatalf("%s: %v", v.Name, err)
	}
	return sa
}

func TestVectorsSeal(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			sa, err := newSA(v.config(t, DirOut))
			if err != nil {
				t.Fatal(err)
			}
			pt := mustHex(t, v.Plaintext)
			payload := pt[:len(pt)-2-v.PadLength]
			buf := make([]byte, Headroom+len(pt)+Tailroom)
			copy(buf[Headroom:], payload)
			got, err := sa.seal(buf, Headroom, len(payload), v.NextHeader, v.sn(), mustHex(t, v.IV), v.PadLength)
			if err != nil {
				t.Fatal(err)
			}
			if want := v.esp(t); !bytes.Equal(got, want) {
				t.Fatalf("sealed\n got %x\nwant %x", got, want)
			}
			// Seal pads to the 4-octet boundary, as every vector does.
			if want := (4 - (len(payload)+2)%4) % 4; want != v.PadLength {
				t.Logf("vector pads %d octets, Seal would pad %d", v.PadLength, want)
			}
		})
	}
}

func TestVectorsOpen(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			esp := v.esp(t)
			if v.Outer != "" {
				// The outer packet carries exactly this ESP packet,
				// behind IP and, for ESP in UDP, a UDP header.
				outer := mustHex(t, v.Outer)
				if !bytes.HasSuffix(outer, esp) {
					t.Fatal("outer packet does not end with the ESP packet")
				}
			}
			buf := make([]byte, Headroom+len(esp))
			copy(buf[Headroom:], esp)
			sa := v.receiver(t)
			pt := mustHex(t, v.Plaintext)
			if v.Inner != "" {
				inner, r := sa.Open(buf, Headroom, len(esp))
				if r != OK {
					t.Fatalf("Open: %v", r)
				}
				if want := mustHex(t, v.Inner); !bytes.Equal(inner, want) {
					t.Fatalf("inner\n got %x\nwant %x", inner, want)
				}
			} else {
				payload, nh, r := sa.OpenPayload(buf, Headroom, len(esp))
				if r != OK {
					t.Fatalf("OpenPayload: %v", r)
				}
				if want := pt[:len(pt)-2-v.PadLength]; !bytes.Equal(payload, want) || nh != v.NextHeader {
					t.Fatalf("payload\n got %x nh %d\nwant %x nh %d", payload, nh, want, v.NextHeader)
				}
			}
			if s := sa.Stats(); s.Packets != 1 || s.IntegrityFailed != 0 {
				t.Fatalf("stats %+v", s)
			}
			// The same packet again is a replay.
			copy(buf[Headroom:], esp)
			if _, _, r := sa.OpenPayload(buf, Headroom, len(esp)); r != ReplayDuplicate {
				t.Fatalf("replayed vector: %v, want %v", r, ReplayDuplicate)
			}
			// Without ESN where it has it (or the reverse), the ICV fails.
			cfg := v.config(t, DirIn)
			cfg.ESN = !cfg.ESN
			if cfg.ESN {
				cfg.InitialSN = 1<<32 + uint64(v.Seq) - 1 // a high half the sender did not use
			}
			other, err := newSA(cfg)
			if err != nil {
				t.Fatal(err)
			}
			copy(buf[Headroom:], esp)
			if _, _, r := other.OpenPayload(buf, Headroom, len(esp)); r != IntegrityFailed && r != ReplayOld {
				t.Fatalf("wrong ESN setting: %v, want %v", r, IntegrityFailed)
			}
		})
	}
}
