package conformance

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
)

// The MKA suite: secylab's port (SecY + MKA participant, as a lab node has
// it) in namespace "u" against wpa_supplicant with the macsec_linux driver
// in namespace "k", both with a static CAK. Upstream wpa_supplicant has no
// XPN, so the GCM-AES suites only.

func mkaCases() []testCase {
	return []testCase{
		{SuiteMKA, "gcm-aes-128-secylab-key-server-rekey", func(e *env) (string, error) {
			return mkaCase(e, mkaSpec{suite: macsec.GCMAES128, oursKS: true, rekey: true})
		}},
		{SuiteMKA, "gcm-aes-128-wpa-key-server", func(e *env) (string, error) {
			return mkaCase(e, mkaSpec{suite: macsec.GCMAES128})
		}},
		{SuiteMKA, "gcm-aes-256-secylab-key-server-rekey", func(e *env) (string, error) {
			return mkaCase(e, mkaSpec{suite: macsec.GCMAES256, oursKS: true, rekey: true})
		}},
		{SuiteMKA, "gcm-aes-256-wpa-key-server", func(e *env) (string, error) {
			return mkaCase(e, mkaSpec{suite: macsec.GCMAES256})
		}},
		{SuiteMKA, "cak-mismatch", mkaCAKMismatch},
		{SuiteMKA, "lab-config-wpa-supplicant-sci-omitted", mkaLabConfig},
	}
}

type mkaSpec struct {
	suite  macsec.CipherSuite
	oursKS bool // our priority is the lower (better) one
	rekey  bool
	badCAK bool
}

// mkaLink is our port and wpa_supplicant's on a veth.
type mkaLink struct {
	nsU, nsK string
	port     *lab.Port
	wpa      *wpaSupplicant
}

const (
	prioHigh = 0x10 // wins the key server election
	prioLow  = 0x20
)

func setupMKA(e *env, s mkaSpec) (*mkaLink, error) {
	if e.wpa == "" {
		return nil, errSkip{"wpa_supplicant is not installed (apt-get install wpasupplicant; .ci/setup-vm does)"}
	}
	if s.suite == macsec.GCMAES256 && !s.oursKS && !wpaHas(e.wpa, "macsec_csindex") {
		return nil, errSkip{"this wpa_supplicant has no macsec_csindex: as key server it distributes GCM-AES-128 only (upstream added GCM-AES-256 selection after 2.10)"}
	}
	psk, err := mka.GeneratePSK(rand.Reader, s.suite)
	if err != nil {
		return nil, err
	}
	ours, theirs := uint8(prioLow), uint8(prioHigh)
	if s.oursKS {
		ours, theirs = prioHigh, prioLow
	}
	l, err := newMKALink(e, &lab.MACsecConfig{Suite: s.suite, IncludeSCI: true, KeyServerPriority: ours, PSK: psk})
	if err != nil {
		return nil, err
	}
	ourMAC := l.port.SCI().MAC().String()
	cak := psk.CAK.Bytes()
	if s.badCAK {
		cak = make([]byte, len(cak))
		rand.Read(cak)
	}
	wc := wpaConfig{cak: cak, ckn: psk.CKN, priority: theirs}
	if s.suite == macsec.GCMAES256 && wpaHas(e.wpa, "macsec_csindex") {
		wc.csindex = 1
	}
	if l.wpa, err = e.startWPA(l.nsK, "wire", wc); err != nil {
		return nil, err
	}
	if s.badCAK {
		return l, nil
	}
	dev, err := e.macsecDevice(l.nsK, 30*time.Second)
	if err != nil {
		return nil, l.explain(err)
	}
	err = e.all(l.nsK,
		[]string{"addr", "add", kernIP + "/24", "dev", dev},
		[]string{"link", "set", dev, "up"},
		[]string{"neigh", "replace", userIP, "lladdr", ourMAC, "dev", dev, "nud", "permanent"})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// newMKALink makes the two namespaces joined by a veth and runs our port
// with mc in "u", its TAP addressed and its peer's MAC known; the caller
// starts wpa_supplicant in "k".
func newMKALink(e *env, mc *lab.MACsecConfig) (*mkaLink, error) {
	l := &mkaLink{}
	var err error
	if l.nsU, err = e.namespace("u"); err != nil {
		return nil, err
	}
	if l.nsK, err = e.namespace("k"); err != nil {
		return nil, err
	}
	if err := e.veth(l.nsU, l.nsK, "wire", "02:5e:c1:00:01:0a", kernMAC); err != nil {
		return nil, err
	}
	if l.port, err = lab.OpenPort(lab.PortConfig{Node: "secylab", Name: "mka", Namespace: l.nsU, TAP: "tap0", Wire: "wire", MACsec: mc}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.port.Run(ctx)
	}()
	e.onClose(func() { cancel(); <-done })
	err = e.all(l.nsU,
		[]string{"link", "set", "tap0", "mtu", fmt.Sprint(tapMTU)},
		[]string{"addr", "add", userIP + "/24", "dev", "tap0"},
		[]string{"link", "set", "tap0", "up"},
		[]string{"neigh", "replace", kernIP, "lladdr", kernMAC, "dev", "tap0", "nud", "permanent"})
	if err != nil {
		return nil, err
	}
	return l, nil
}

func (l *mkaLink) explain(err error) error {
	st := l.port.Status()
	if st.MKA == nil {
		return err
	}
	return fmt.Errorf("%w\n  ours: secured %v key server %v (elected %v) peers %d counters %+v\n  wpa_supplicant:\n%s",
		err, st.MKA.Secured, st.MKA.KeyServer, st.MKA.KeyServerElected, len(st.MKA.Peers), *st.MKACounter, l.wpa.tail(wpaTailLines))
}

// waitSecured waits until our participant transmits with an agreed SAK and
// a ping gets through both ways.
func (l *mkaLink) waitSecured(wait time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		st := l.port.Status()
		if st.MKA != nil && st.MKA.Secured {
			if n, _ := ping(l.nsU, kernIP, 1, 0, time.Second); n == 1 {
				if n, _ := ping(l.nsK, userIP, 1, 0, time.Second); n == 1 {
					return time.Since(start), nil
				}
			}
		}
		if time.Since(start) > wait {
			return 0, l.explain(fmt.Errorf("the secure channel did not come up in %v", wait))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func mkaCase(e *env, s mkaSpec) (string, error) {
	l, err := setupMKA(e, s)
	if err != nil {
		return "", err
	}
	if s.suite == macsec.GCMAES256 && !wpaHas(e.wpa, "macsec_csindex") {
		return "", l.only256SAK()
	}
	up, err := l.waitSecured(40 * time.Second)
	if err != nil {
		return "", err
	}
	st := l.port.Status().MKA
	if st.KeyServer != s.oursKS {
		return "", l.explain(fmt.Errorf("key server: ours is %v, want %v", st.KeyServer, s.oursKS))
	}
	if err := pingBoth(l.nsU, userIP, l.nsK, kernIP, 3); err != nil {
		return "", l.explain(err)
	}
	if err := (exchange{n: e.opts.Transfer}).run(e.ctx, l.nsK, kernIP, l.nsU); err != nil {
		return "", l.explain(err)
	}
	ks := "wpa_supplicant"
	if s.oursKS {
		ks = "secylab"
	}
	sum := fmt.Sprintf("secured in %.1fs, key server %s, KN %d AN %d; ping 3+3, TCP %d KiB each way sha256 ok",
		up.Seconds(), ks, st.Latest.KI.KN, st.Latest.AN, e.opts.Transfer>>10)
	if !s.rekey {
		return sum, nil
	}
	r, err := l.rekey(e, st.Latest)
	if err != nil {
		return "", err
	}
	return sum + "; " + r, nil
}

// only256SAK is the GCM-AES-256 case against a wpa_supplicant without
// macsec_csindex (Debian 12's 2.10): its macsec_linux driver creates the
// kernel SecY with the default GCM-AES-128 before any SAK arrives, and the
// kernel refuses to change a SecY's cipher suite, so the 32-octet SAK can
// never be installed there and no traffic can flow. What can be proven is
// the MKA half: wpa_supplicant unwraps our GCM-AES-256 SAK and switches
// its cipher suite. The case is then skipped, saying so.
func (l *mkaLink) only256SAK() error {
	deadline := time.Now().Add(30 * time.Second)
	for !l.wpa.logHas("set_current_cipher_suite", "0080c20001000002") {
		if time.Now().After(deadline) {
			return l.explain(errors.New("wpa_supplicant did not take our GCM-AES-256 SAK in 30 s"))
		}
		time.Sleep(250 * time.Millisecond)
	}
	why := "no traffic test possible"
	if l.wpa.logHas("create_receive_sa: failed") || l.wpa.logHas("create_transmit_sa: failed") {
		why = "the kernel refused the 32-octet SAK on wpa_supplicant's GCM-AES-128 macsec device (EINVAL)"
	}
	return errSkip{"wpa_supplicant accepted our GCM-AES-256 Distributed SAK (cipher suite 0080c20001000002), but " + why +
		": this wpa_supplicant has no macsec_csindex, so its macsec_linux driver creates the SecY as GCM-AES-128 before the SAK arrives"}
}

// rekey forces a new SAK from our key server in the middle of a paced TCP
// transfer, which must complete, then waits until both sides transmit
// with the new SAK and sends traffic again.
func (l *mkaLink) rekey(e *env, before *mka.KeyStatus) (string, error) {
	var rekeyErr error
	x := exchange{n: 256 << 10, pace: 200 * time.Millisecond, mid: func() { rekeyErr = l.port.Rekey() }}
	if err := x.run(e.ctx, l.nsK, kernIP, l.nsU); err != nil {
		return "", l.explain(fmt.Errorf("during the rekey: %w", err))
	}
	if rekeyErr != nil {
		return "", rekeyErr
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := l.port.Status()
		if k := st.MKA.Latest; k != nil && k.KI.KN > before.KI.KN && k.Tx && k.Rx {
			var got uint64
			for _, sc := range st.SecY.RxSCs {
				for _, sa := range sc.SAs {
					if sa.AN == k.AN {
						got = sa.Stats.InPktsOK
					}
				}
			}
			if got > 0 {
				if err := pingBoth(l.nsU, userIP, l.nsK, kernIP, 3); err != nil {
					return "", l.explain(fmt.Errorf("after the rekey: %w", err))
				}
				if err := (exchange{n: e.opts.Transfer}).run(e.ctx, l.nsK, kernIP, l.nsU); err != nil {
					return "", l.explain(fmt.Errorf("after the rekey: %w", err))
				}
				return fmt.Sprintf("rekey under TCP (paced 256 KiB each way, sha256 ok): KN %d→%d, AN %d→%d, %d frames from wpa_supplicant on the new SA; traffic again ok",
					before.KI.KN, k.KI.KN, before.AN, k.AN, got), nil
			}
		}
		if time.Now().After(deadline) {
			return "", l.explain(errors.New("20 s after the rekey the new SAK is not in use both ways"))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// mkaCAKMismatch: same CKN, different CAK. The MKPDUs fail the ICV check
// both ways, no peer becomes live, no SAK is installed, and nothing crosses.
func mkaCAKMismatch(e *env) (string, error) {
	l, err := setupMKA(e, mkaSpec{suite: macsec.GCMAES128, oursKS: true, badCAK: true})
	if err != nil {
		return "", err
	}
	time.Sleep(8 * time.Second) // four MKA hellos each way
	st := l.port.Status()
	c := st.MKACounter
	switch {
	case c.RxBadICV == 0:
		return "", l.explain(errors.New("no MKPDU from wpa_supplicant failed our ICV check"))
	case st.MKA.Secured || st.MKA.Latest != nil || len(st.MKA.Peers) != 0 || st.SecY.Operational:
		return "", l.explain(errors.New("a channel came up with mismatched CAKs"))
	}
	if n, _ := ping(l.nsU, kernIP, 3, 50*time.Millisecond, time.Second); n != 0 {
		return "", fmt.Errorf("%d pings answered with mismatched CAKs", n)
	}
	if dev, err := e.macsecDevice(l.nsK, 0); err == nil {
		ks := &kernelSecY{l: e.testbed, ns: l.nsK, dev: dev, suite: macsec.GCMAES128}
		if s, _, err := ks.stats(); err == nil && s["rxsc.InPktsOK"] != 0 {
			return "", fmt.Errorf("wpa_supplicant's SecY validated %d frames with mismatched CAKs", s["rxsc.InPktsOK"])
		}
	}
	return fmt.Sprintf("down after 8 s: %d MKPDUs from wpa_supplicant failed our ICV check, no live peer, no SAK, our SecY not operational, 0/3 pings",
		c.RxBadICV), nil
}
