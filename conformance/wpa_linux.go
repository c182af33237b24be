package conformance

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// wpaConfig is a static-CAK MKA network for wpa_supplicant, as hostap's
// tests/hwsim/test_macsec.py sets it up: no EAPOL authentication, MKA
// with a pre-shared CAK, MACsec required.
type wpaConfig struct {
	cak, ckn []byte
	priority uint8
	csindex  int // macsec_csindex (1: GCM-AES-256), if this wpa_supplicant has it
}

func (c wpaConfig) text() string {
	var b strings.Builder
	b.WriteString("eapol_version=3\nap_scan=0\nfast_reauth=1\nnetwork={\n")
	b.WriteString("\tkey_mgmt=NONE\n\teapol_flags=0\n\tmacsec_policy=1\n")
	fmt.Fprintf(&b, "\tmka_cak=%s\n\tmka_ckn=%s\n\tmka_priority=%d\n", hex.EncodeToString(c.cak), hex.EncodeToString(c.ckn), c.priority)
	if c.csindex > 0 {
		fmt.Fprintf(&b, "\tmacsec_csindex=%d\n", c.csindex)
	}
	b.WriteString("}\n")
	return b.String()
}

// wpaHas reports whether the wpa_supplicant binary knows a configuration
// field (Debian 12's 2.10 has no macsec_csindex, for one).
func wpaHas(wpa, field string) bool {
	b, err := os.ReadFile(wpa)
	return err == nil && bytes.Contains(b, []byte(field))
}

// wpaSupplicant runs wpa_supplicant with the macsec_linux driver on dev in
// ns until the lab closes. Its debug log is kept for failures.
type wpaSupplicant struct {
	log string
}

func (e *env) startWPA(ns, dev string, c wpaConfig) (*wpaSupplicant, error) {
	return e.startWPAText(ns, dev, c.text())
}

// startWPAText runs wpa_supplicant with the configuration text conf.
func (e *env) startWPAText(ns, dev, conf string) (*wpaSupplicant, error) {
	if e.wpa == "" {
		return nil, errSkip{"wpa_supplicant is not installed (apt-get install wpasupplicant; .ci/setup-vm does)"}
	}
	dir, err := os.MkdirTemp("", "secylab-wpa-")
	if err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "wpa_supplicant.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	w := &wpaSupplicant{log: filepath.Join(dir, "wpa.log")}
	logf, err := os.Create(w.log)
	if err != nil {
		return nil, err
	}
	// ip netns exec execs wpa_supplicant: the PID is wpa_supplicant's.
	cmd := exec.Command(e.ip, "netns", "exec", ns, e.wpa, "-i", dev, "-D", "macsec_linux", "-c", file, "-dd", "-t")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("wpa_supplicant: %w", err)
	}
	e.onClose(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		os.RemoveAll(dir)
	})
	return w, nil
}

// tail returns the last lines of the debug log that mention MKA or the
// driver, for a failure's detail.
func (w *wpaSupplicant) tail(n int) string {
	b, _ := os.ReadFile(w.log)
	var keep []string
	for line := range strings.Lines(string(b)) {
		if wpaInteresting(line) {
			keep = append(keep, strings.TrimSpace(line))
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "\n")
}

// macsecDevice waits until the macsec_linux driver has created its macsec
// device on top of the veth in ns and returns its name.
func (e *env) macsecDevice(ns string, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for {
		out, err := e.in(ns, "-o", "link", "show", "type", "macsec")
		if err == nil {
			for line := range strings.Lines(out) {
				f := strings.Fields(line)
				if len(f) > 1 {
					name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
					return name, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("wpa_supplicant created no macsec device in %v", wait)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// wpaTailLines is how much of wpa_supplicant's log a failure shows.
const wpaTailLines = 15

// logHas reports whether wpa_supplicant's debug log has a line with all
// the given strings.
func (w *wpaSupplicant) logHas(all ...string) bool {
	b, _ := os.ReadFile(w.log)
	for line := range strings.Lines(string(b)) {
		ok := true
		for _, s := range all {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			return true
		}
	}
	return false
}

func wpaInteresting(line string) bool {
	for _, s := range []string{"KaY", "macsec", "CP", "MKA"} {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}
