package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/secylab/secylab/internal/fingerprint"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/macsec"
)

// keyedSA is one SA of a keys file, installed in a SecY of its own (one
// receive SC, one SA), so a frame is validated with exactly the SA its
// sender used.
type keyedSA struct {
	sa  lab.SAExport
	sci macsec.SCI
	y   *macsec.SecY
	fp  string // the SAK's fingerprint
	ok  int    // frames delivered with it
}

// loadKeyedSAs reads a keys file (secylab lab keys, lab run --export-keys)
// into one SecY per SA. The SAKs are cleared once installed.
func loadKeyedSAs(file string) ([]*keyedSA, error) {
	kf, err := lab.ReadKeysFile(file)
	if err != nil {
		return nil, usagef("--keys: %v", err)
	}
	var out []*keyedSA
	for i, sa := range kf.SAs() {
		where := fmt.Sprintf("--keys %s: SA %d (%s:%s AN %d)", file, i+1, sa.Node, sa.Port, sa.AN)
		suite, err := macsec.ParseCipherSuite(sa.Cipher)
		if err != nil {
			return nil, usagef("%s: %v", where, err)
		}
		sci, err := macsec.ParseSCI(sa.SCI)
		if err != nil {
			return nil, usagef("%s: sci: %v", where, err)
		}
		var k macsec.Key
		if k.SAK, err = hex.DecodeString(sa.SAK); err != nil || len(k.SAK) != suite.KeyLen() {
			return nil, usagef("%s: sak: want %d hex digits", where, 2*suite.KeyLen())
		}
		if suite.XPN() {
			ssci, err := strconv.ParseUint(sa.SSCI, 16, 32)
			salt, serr := hex.DecodeString(sa.Salt)
			if err != nil || serr != nil || len(salt) != len(k.Salt) {
				clear(k.SAK)
				return nil, usagef("%s: an XPN SA needs ssci (8 hex digits) and salt (24)", where)
			}
			k.SSCI, k.Salt = macsec.SSCI(ssci), macsec.Salt(salt)
		}
		y, err := macsec.New(macsec.Config{Suite: suite, ValidateFrames: macsec.Strict})
		if err == nil {
			err = y.AddRxSC(sci)
		}
		if err == nil {
			err = y.InstallRxSA(sci, sa.AN, k, max(sa.LowestPN, 1))
		}
		fp := fingerprint.Of(fingerprint.SAK, k.SAK)
		clear(k.SAK)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		sa.SAK = ""
		out = append(out, &keyedSA{sa: sa, sci: sci, y: y, fp: fp})
	}
	return out, nil
}

// senderSCI is the SCI a MACsec frame was sent with: the one in its SecTAG,
// or its source MAC with port 1 (ExpressRoute omits the SCI).
func senderSCI(frame []byte) macsec.SCI {
	if frame[macAddrsLen+2]&macsec.TCISC != 0 && len(frame) >= macAddrsLen+8+8 {
		return macsec.SCI(binary.BigEndian.Uint64(frame[macAddrsLen+8:]))
	}
	return endStationSCI(frame)
}

// runValidateKeys validates every MACsec frame of the input with the SA of
// the keys file its sender used (by SCI, or source MAC, and AN).
func runValidateKeys(cmd *cobra.Command, f *validateFlags, args []string) error {
	for _, name := range []string{"cipher", "sak", "sak-file", "sak-env", "ssci", "salt", "sci", "an", "pn"} {
		if cmd.Flags().Changed(name) {
			return usagef("--keys gives every SA: --%s excludes it", name)
		}
	}
	frames, err := f.macsecFrames(cmd.InOrStdin(), args)
	if err != nil {
		return err
	}
	if err := checkOut(f.out); err != nil {
		return err
	}
	sas, err := loadKeyedSAs(f.keys)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	var (
		records          []validatedFrame
		delivered        []frame
		macsecN, mka, in int
	)
	for i, fr := range frames {
		et := binary.BigEndian.Uint16(fr.data[macAddrsLen:])
		r := validatedFrame{Index: i + 1, Source: fr.src, InLen: len(fr.data)}
		switch et {
		case macsec.EtherType:
		case 0x888e:
			mka++
			continue
		default:
			in++
			r.Verdict = fmt.Sprintf("not MACsec (EtherType %#04x): in clear on the wire", et)
			records = append(records, r)
			continue
		}
		macsecN++
		tag, tagErr := parseTag(fr.data, false)
		r.SecTAG = tag
		sci := senderSCI(fr.data)
		an := fr.data[macAddrsLen+2] & macsec.ANMask
		r.Verdict, r.Result = fmt.Sprintf("no SA in the keys file for SCI %s AN %d", sci, an), "NoSA"
		for _, k := range sas {
			if k.sci != sci || k.sa.AN != an {
				continue
			}
			buf := bytes.Clone(fr.data)
			out, res := k.y.Validate(buf, 0, len(buf))
			r.Result, r.Delivered, r.Verdict = res.Counter(), res.Delivered(), res.String()
			if res == macsec.BadTag && tagErr != nil {
				r.TagError = tagErr.Error()
				r.Verdict += ": " + r.TagError
			}
			if res == macsec.OK {
				r.Verdict = fmt.Sprintf("ok (%s:%s KN %d)", k.sa.Node, k.sa.Port, k.sa.KN)
				k.ok++
				r.OutLen, r.Hex = len(out), hex.EncodeToString(out)
				delivered = append(delivered, frame{src: fr.src, ts: fr.ts, data: out})
				break
			}
		}
		records = append(records, r)
	}
	if err := writeOut(f.out, delivered); err != nil {
		return err
	}
	type saLine struct {
		Node, Port, SCI, SAKFingerprint string
		AN                              uint8
		KN                              uint32
		Delivered                       int
	}
	var saLines []saLine
	for _, k := range sas {
		saLines = append(saLines, saLine{k.sa.Node, k.sa.Port, k.sa.SCI, k.fp, k.sa.AN, k.sa.KN, k.ok})
	}
	notDelivered := macsecN - len(delivered)
	if f.json {
		if err := printJSON(w, struct {
			Command   string           `json:"command"`
			Keys      string           `json:"keys"`
			SAs       []saLine         `json:"sas"`
			Frames    []validatedFrame `json:"frames"`
			MACsec    int              `json:"macsec"`
			MKA       int              `json:"mka"`
			Clear     int              `json:"clear"`
			Delivered int              `json:"delivered"`
		}{"validate", f.keys, saLines, records, macsecN, mka, in, len(delivered)}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(w, "validate: %d SAs from %s (SAK fingerprints only)\n", len(sas), f.keys)
		for _, s := range saLines {
			fmt.Fprintf(w, "  %s:%s SCI %s AN %d KN %d SAK %s: %d frames delivered\n", s.Node, s.Port, s.SCI, s.AN, s.KN, s.SAKFingerprint, s.Delivered)
		}
		for _, r := range records {
			if r.Delivered && f.out != "" {
				continue // the summary says how many; --out has them
			}
			fmt.Fprintf(w, "#%d %s", r.Index, r.Verdict)
			if r.SecTAG != nil {
				fmt.Fprintf(w, "  [AN %d PN %#x]", r.SecTAG.AN, r.SecTAG.PN)
			}
			if r.Delivered {
				fmt.Fprintf(w, "  %d → %d octets\n  %s", r.InLen, r.OutLen, r.Hex)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "delivered %d of %d MACsec frames; %d MKA frames skipped; %d frames in clear\n", len(delivered), macsecN, mka, in)
	}
	if notDelivered > 0 || in > 0 {
		return fmt.Errorf("%d of %d MACsec frames not delivered, %d frames in clear", notDelivered, macsecN, in)
	}
	return nil
}
