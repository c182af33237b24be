package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/secylab/secylab/internal/secret"
)

// KeysWarning heads every keys file and is what the commands that write
// one say on stderr.
const KeysWarning = "SECRET: this file holds the lab's MACsec keys (CAKs and SAKs); anyone who has it can read and forge the lab's traffic. Keep it 0600 and delete it when done."

// KeysFile is what secylab lab keys and lab run --export-keys write, 0600:
// the keys of a lab's links, in the form secylab frame validate --keys
// reads (SAs) and Wireshark's MKA CKN/CAK table takes (PSKs).
type KeysFile struct {
	Warning  string     `json:"warning"`
	Lab      string     `json:"lab"`
	Exported time.Time  `json:"exported"`
	Links    []LinkKeys `json:"links"`
}

// Add merges a link's keys, exported at one moment, into the file: an SA
// already there (same SCI, AN, KN and SAK) keeps the widest PN range.
func (kf *KeysFile) Add(lk LinkKeys) {
	for i := range kf.Links {
		l := &kf.Links[i]
		if l.Link != lk.Link {
			continue
		}
		for _, p := range lk.PSKs {
			if !containsPSK(l.PSKs, p) {
				l.PSKs = append(l.PSKs, p)
			}
		}
	next:
		for _, sa := range lk.SAs {
			for j := range l.SAs {
				o := &l.SAs[j]
				if o.SCI == sa.SCI && o.AN == sa.AN && o.KN == sa.KN && o.SAK == sa.SAK {
					o.NextPN, o.InUse = max(o.NextPN, sa.NextPN), sa.InUse
					continue next
				}
			}
			l.SAs = append(l.SAs, sa)
		}
		return
	}
	kf.Links = append(kf.Links, lk)
}

func containsPSK(ps []PSKExport, p PSKExport) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// SAs lists every SA of every link in the file.
func (kf *KeysFile) SAs() []SAExport {
	var sas []SAExport
	for _, l := range kf.Links {
		sas = append(sas, l.SAs...)
	}
	return sas
}

// WriteKeysFile writes kf to name, mode 0600 (through a temporary file in
// the same directory, renamed: never a partial or group-readable file).
func WriteKeysFile(name string, kf *KeysFile) (err error) {
	kf.Warning = KeysWarning
	b, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return err
	}
	defer clear(b)
	return secret.WriteFile(name, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// maxKeysFile bounds a keys file: a few hundred SAs.
const maxKeysFile = 1 << 20

// ReadKeysFile reads a keys file, refusing one that group or others may
// read (the key file rule, internal/secret).
func ReadKeysFile(name string) (*KeysFile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := secret.CheckMode(name, fi.Mode()); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeysFile+1))
	defer clear(b)
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeysFile {
		return nil, fmt.Errorf("keys file %s is larger than %d octets", name, maxKeysFile)
	}
	var kf KeysFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("keys file %s: %w (want the JSON secylab lab keys writes)", name, err)
	}
	if len(kf.SAs()) == 0 {
		return nil, errors.New("keys file " + name + " has no SAs")
	}
	return &kf, nil
}
