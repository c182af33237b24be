package conformance

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/secylab/secylab/macsec"
)

// The MACsec suite: secylab's userspace SecY (namespace "u", TAP tap0 on
// veth wire) against the kernel's macsec0 (namespace "k", on the other end
// of the veth), with SAs installed by hand on both sides.
const (
	userMAC = "02:5e:c1:00:00:0a"
	kernMAC = "02:5e:c1:00:00:0b"
	userIP  = "10.77.0.1"
	kernIP  = "10.77.0.2"
)

func macsecCases() []testCase {
	var cs []testCase
	for _, s := range macsec.Suites {
		cs = append(cs, testCase{SuiteMACsec, iprouteCipher(s), func(e *env) (string, error) {
			return macsecTraffic(e, pairConfig{suite: s, sendSCI: true})
		}})
	}
	for _, s := range []macsec.CipherSuite{macsec.GCMAESXPN128, macsec.GCMAESXPN256} {
		cs = append(cs, testCase{SuiteMACsec, "sci-omitted-" + iprouteCipher(s), func(e *env) (string, error) {
			return macsecTraffic(e, pairConfig{suite: s})
		}})
	}
	return append(cs,
		testCase{SuiteMACsec, "xpn-pn-crosses-2^32", macsecXPNWrap},
		testCase{SuiteMACsec, "replay-window", macsecReplay},
		testCase{SuiteMACsec, "an-switch-under-traffic", macsecANSwitch},
		testCase{SuiteMACsec, "wrong-key", macsecWrongKey},
	)
}

type pairConfig struct {
	suite    macsec.CipherSuite
	sendSCI  bool
	replay   bool
	window   uint32
	pn       uint64 // first PN both ways; 0: 1
	wrongKey bool   // each receiver gets a key other than its sender's
}

// pair is one MACsec link: ours and the kernel's.
type pair struct {
	cfg        pairConfig
	nsU, nsK   string
	user       *userSecY
	kern       *kernelSecY
	sciU, sciK macsec.SCI
	keyU, keyK macsec.Key // what each side transmits with on AN 0
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// newKey makes a random SAK for suite, with the SSCI and a random salt.
func newKey(suite macsec.CipherSuite, ssci macsec.SSCI) macsec.Key {
	k := macsec.Key{SAK: make([]byte, suite.KeyLen()), SSCI: ssci}
	rand.Read(k.SAK)
	rand.Read(k.Salt[:])
	return k
}

func setupPair(e *env, c pairConfig) (*pair, error) {
	if c.pn == 0 {
		c.pn = 1
	}
	p := &pair{cfg: c,
		sciU: macsec.NewSCI(mustMAC(userMAC), 1), sciK: macsec.NewSCI(mustMAC(kernMAC), 1),
		// XPN: the numerically greater SCI gets SSCI 1, as MKA would assign.
		keyU: newKey(c.suite, 2), keyK: newKey(c.suite, 1),
	}
	var err error
	if p.nsU, err = e.namespace("u"); err != nil {
		return nil, err
	}
	if p.nsK, err = e.namespace("k"); err != nil {
		return nil, err
	}
	if err := e.veth(p.nsU, p.nsK, "wire", "02:5e:c1:00:01:0a", kernMAC); err != nil {
		return nil, err
	}
	y, err := macsec.New(macsec.Config{Suite: c.suite, SCI: p.sciU, IncludeSCI: c.sendSCI,
		ReplayProtect: c.replay, ReplayWindow: c.window})
	if err != nil {
		return nil, err
	}
	rxU, rxK := p.keyK, p.keyU // what each receiver validates with
	if c.wrongKey {
		rxU, rxK = newKey(c.suite, 1), newKey(c.suite, 2)
	}
	if err := errors.Join(y.InstallTxSA(0, p.keyU, c.pn), y.AddRxSC(p.sciK), y.InstallRxSA(p.sciK, 0, rxU, c.pn)); err != nil {
		return nil, err
	}
	if p.user, err = e.openUserSecY(p.nsU, "tap0", "wire", userMAC, userIP+"/24", y); err != nil {
		return nil, err
	}
	p.kern, err = e.newKernelSecY(p.nsK, "wire", "macsec0", kernelSecYConfig{suite: c.suite, sendSCI: c.sendSCI, replay: c.replay, window: c.window})
	if err != nil {
		return nil, err
	}
	err = errors.Join(p.kern.addTxSA(0, c.pn, p.keyK), p.kern.addRxSC(p.sciU), p.kern.addRxSA(p.sciU, 0, c.pn, rxK))
	if err != nil {
		return nil, err
	}
	// Static neighbours: no ARP round trip, and every frame on the wire is
	// one the case sent.
	err = errors.Join(
		e.all(p.nsK, []string{"addr", "add", kernIP + "/24", "dev", "macsec0"}, []string{"link", "set", "macsec0", "up"},
			[]string{"neigh", "replace", userIP, "lladdr", userMAC, "dev", "macsec0", "nud", "permanent"}),
		e.all(p.nsU, []string{"neigh", "replace", kernIP, "lladdr", kernMAC, "dev", "tap0", "nud", "permanent"}))
	return p, err
}

// traffic pings both ways and moves e.opts.Transfer octets each way over
// TCP, and returns a summary.
func (p *pair) traffic(e *env) (string, error) {
	if err := pingBoth(p.nsU, userIP, p.nsK, kernIP, 3); err != nil {
		return "", p.explain(err)
	}
	start := time.Now()
	if err := (exchange{n: e.opts.Transfer}).run(e.ctx, p.nsK, kernIP, p.nsU); err != nil {
		return "", p.explain(err)
	}
	return fmt.Sprintf("ping 3+3, TCP %d KiB each way sha256 ok in %.1fs", e.opts.Transfer>>10, time.Since(start).Seconds()), nil
}

// explain adds both sides' counters to a traffic failure.
func (p *pair) explain(err error) error {
	ks, _, kerr := p.kern.stats()
	us := p.user.secy.Status()
	rx, _ := us.RxSC(p.sciK)
	return fmt.Errorf("%w\n  ours: tx %+v rx %+v secy %+v\n  kernel: %v %v", err, us.TxSC.Stats, rx.Stats, us.Stats, ks, kerr)
}

// counters returns the kernel's and our counters, and checks the basics
// every passing case shares: both sides received frames, none rejected.
func (p *pair) counters() (kernelStats, macsec.Status, error) {
	ks, raw, err := p.kern.stats()
	if err != nil {
		return nil, macsec.Status{}, err
	}
	us := p.user.secy.Status()
	rx, _ := us.RxSC(p.sciK)
	switch {
	case ks["rxsc.InPktsOK"] == 0:
		err = fmt.Errorf("the kernel validated no frame of ours:\n%s", raw)
	case rx.Stats.InPktsOK == 0:
		err = fmt.Errorf("our SecY validated no frame of the kernel's: %+v", rx.Stats)
	case ks["rxsc.InPktsNotValid"]+rx.Stats.InPktsNotValid != 0:
		err = fmt.Errorf("ICV failures: kernel %d, ours %d", ks["rxsc.InPktsNotValid"], rx.Stats.InPktsNotValid)
	}
	return ks, us, err
}

func macsecTraffic(e *env, c pairConfig) (string, error) {
	p, err := setupPair(e, c)
	if err != nil {
		return "", err
	}
	sum, err := p.traffic(e)
	if err != nil {
		return "", err
	}
	ks, us, err := p.counters()
	if err != nil {
		return "", err
	}
	rx, _ := us.RxSC(p.sciK)
	// The SecTAGs on the wire say whether the SCI was sent, both ways.
	with, without := p.user.tags.counts(kernMAC)
	if c.sendSCI && (with == 0 || without != 0) || !c.sendSCI && (without == 0 || with != 0) {
		return "", fmt.Errorf("kernel's SecTAGs: %d with SCI, %d without; want send_sci %v", with, without, c.sendSCI)
	}
	with, without = p.user.tags.counts(userMAC)
	if c.sendSCI && (with == 0 || without != 0) || !c.sendSCI && (without == 0 || with != 0) {
		return "", fmt.Errorf("our SecTAGs: %d with SCI, %d without; want SCI %v", with, without, c.sendSCI)
	}
	sci := "SCI in every SecTAG"
	if !c.sendSCI {
		sci = "no SCI in any SecTAG"
	}
	return fmt.Sprintf("%s; %s; kernel InPktsOK %d, ours %d", sum, sci, ks["rxsc.InPktsOK"], rx.Stats.InPktsOK), nil
}

// macsecXPNWrap starts both directions 100 PNs below 2^32 and moves enough
// traffic that they cross it: the receivers must recover the upper PN half.
func macsecXPNWrap(e *env) (string, error) {
	const start = 1<<32 - 100
	p, err := setupPair(e, pairConfig{suite: macsec.GCMAESXPN128, pn: start})
	if err != nil {
		return "", err
	}
	sum, err := p.traffic(e)
	if err != nil {
		return "", err
	}
	ks, _, err := p.counters()
	if err != nil {
		return "", err
	}
	txPN, _ := p.user.secy.TxSANextPN(0)
	rxPN, _ := p.user.secy.RxSANextPN(p.sciK, 0)
	if txPN <= 1<<32 || rxPN <= 1<<32 {
		return "", fmt.Errorf("PNs did not cross 2^32: our next TX PN %#x, next RX PN from the kernel %#x", txPN, rxPN)
	}
	// iproute2 shows the low half: past the boundary it is small again.
	if lo := ks["rxsa0.PN"]; lo == 0 || lo >= start {
		return "", fmt.Errorf("the kernel's RX SA shows PN %d: want the low half of a PN past 2^32", lo)
	}
	return fmt.Sprintf("%s; our TX PN %#x, kernel's TX PN as we saw it %#x, kernel RX PN low half %d", sum, txPN, rxPN, ks["rxsa0.PN"]), nil
}

// macsecReplay turns replay protection on with a window of 32 on both
// sides, then makes each sender go back in PN: 10 back is inside the
// window and delivered, 100 back is late and dropped, and both sides count
// InPktsLate.
func macsecReplay(e *env) (string, error) {
	const window = 32
	p, err := setupPair(e, pairConfig{suite: macsec.GCMAESXPN128, sendSCI: false, replay: true, window: window})
	if err != nil {
		return "", err
	}
	if _, err := p.traffic(e); err != nil {
		return "", err
	}
	oneWay := func(from, to string) (int, error) {
		return ping(from, to, 3, 50*time.Millisecond, 2*time.Second)
	}

	// Ours → kernel.
	next, _ := p.user.secy.TxSANextPN(0)
	if err := p.user.secy.InstallTxSA(0, p.keyU, next-10); err != nil {
		return "", err
	}
	if n, err := oneWay(p.nsU, kernIP); err != nil || n != 3 {
		return "", p.explain(fmt.Errorf("10 PNs back (inside the window): %d/3 echoes answered (%v)", n, err))
	}
	ks0, _, _ := p.kern.stats()
	next, _ = p.user.secy.TxSANextPN(0)
	if err := p.user.secy.InstallTxSA(0, p.keyU, next-100); err != nil {
		return "", err
	}
	if n, _ := oneWay(p.nsU, kernIP); n != 0 {
		return "", p.explain(fmt.Errorf("100 PNs back (outside the window): %d/3 echoes answered, want 0", n))
	}
	ks1, _, _ := p.kern.stats()
	kLate := ks1["rxsc.InPktsLate"] - ks0["rxsc.InPktsLate"]
	if kLate < 3 {
		return "", p.explain(fmt.Errorf("the kernel counted %d InPktsLate for 3 late frames", kLate))
	}
	if err := p.user.secy.InstallTxSA(0, p.keyU, next+1000); err != nil {
		return "", err
	}

	// Kernel → ours. iproute2 shows the TX SA's next PN (small: all of it).
	kn := ks1["txsa0.PN"]
	if err := p.kern.setTxPN(0, kn-10); err != nil {
		return "", err
	}
	if n, err := oneWay(p.nsK, userIP); err != nil || n != 3 {
		return "", p.explain(fmt.Errorf("kernel 10 PNs back (inside the window): %d/3 echoes answered (%v)", n, err))
	}
	rx0, _ := p.user.secy.Status().RxSC(p.sciK)
	ks2, _, _ := p.kern.stats()
	if err := p.kern.setTxPN(0, ks2["txsa0.PN"]-100); err != nil {
		return "", err
	}
	if n, _ := oneWay(p.nsK, userIP); n != 0 {
		return "", p.explain(fmt.Errorf("kernel 100 PNs back (outside the window): %d/3 echoes answered, want 0", n))
	}
	rx1, _ := p.user.secy.Status().RxSC(p.sciK)
	uLate := rx1.Stats.InPktsLate - rx0.Stats.InPktsLate
	if uLate < 3 {
		return "", p.explain(fmt.Errorf("our SecY counted %d InPktsLate for 3 late frames", uLate))
	}
	if err := p.kern.setTxPN(0, ks2["txsa0.PN"]+1000); err != nil {
		return "", err
	}
	if err := pingBoth(p.nsU, userIP, p.nsK, kernIP, 3); err != nil {
		return "", p.explain(fmt.Errorf("after the replay checks: %w", err))
	}
	return fmt.Sprintf("window %d: 10 PNs back delivered both ways; 100 back dropped: kernel InPktsLate +%d, ours +%d", window, kLate, uLate), nil
}

// macsecANSwitch moves both sides from AN 0 to a new SAK on AN 1 while a
// paced TCP transfer runs both ways: receive SAs first, then the transmit
// switch, as MKA does it.
func macsecANSwitch(e *env) (string, error) {
	suite := macsec.GCMAESXPN256
	p, err := setupPair(e, pairConfig{suite: suite})
	if err != nil {
		return "", err
	}
	newU, newK := newKey(suite, 2), newKey(suite, 1)
	var switchErr error
	switched := make(chan struct{})
	mid := func() {
		defer close(switched)
		y := p.user.secy
		switchErr = errors.Join(
			y.InstallRxSA(p.sciK, 1, newK, 1), p.kern.addRxSA(p.sciU, 1, 1, newU),
			y.InstallTxSA(1, newU, 1), p.kern.addTxSA(1, 1, newK),
			y.SetEncodingSA(1), p.kern.setEncodingSA(1))
	}
	n := max(e.opts.Transfer, 256<<10)
	x := exchange{n: n, pace: 20 * time.Millisecond, mid: mid}
	if err := x.run(e.ctx, p.nsK, kernIP, p.nsU); err != nil {
		return "", p.explain(err)
	}
	<-switched
	if switchErr != nil {
		return "", switchErr
	}
	ks, us, err := p.counters()
	if err != nil {
		return "", err
	}
	rx, _ := us.RxSC(p.sciK)
	var ok [2]uint64
	for _, sa := range rx.SAs {
		if sa.AN < 2 {
			ok[sa.AN] = sa.Stats.InPktsOK
		}
	}
	if ks["rxsa0.InPktsOK"] == 0 || ks["rxsa1.InPktsOK"] == 0 || ok[0] == 0 || ok[1] == 0 {
		return "", fmt.Errorf("frames per AN: kernel received AN0 %d AN1 %d, we received AN0 %d AN1 %d; want both ANs used both ways",
			ks["rxsa0.InPktsOK"], ks["rxsa1.InPktsOK"], ok[0], ok[1])
	}
	if us.EncodingSA != 1 {
		return "", fmt.Errorf("our encoding SA is %d after the switch", us.EncodingSA)
	}
	return fmt.Sprintf("TCP %d KiB each way across the switch, sha256 ok; kernel received AN0 %d AN1 %d, we received AN0 %d AN1 %d",
		n>>10, ks["rxsa0.InPktsOK"], ks["rxsa1.InPktsOK"], ok[0], ok[1]), nil
}

// macsecWrongKey gives each receiver a key other than its sender's, with
// the ExpressRoute profile (XPN, SCI omitted): nothing may be delivered
// either way, and each receiver must count exactly the frames the other
// side sent as InPktsNotValid.
func macsecWrongKey(e *env) (string, error) {
	p, err := setupPair(e, pairConfig{suite: macsec.GCMAESXPN128, wrongKey: true})
	if err != nil {
		return "", err
	}
	for _, d := range []struct{ ns, dst string }{{p.nsU, kernIP}, {p.nsK, userIP}} {
		if n, err := ping(d.ns, d.dst, 3, 50*time.Millisecond, 1500*time.Millisecond); err != nil || n != 0 {
			return "", fmt.Errorf("ping %s from %s with mismatched keys: %d answered (%v), want 0", d.dst, d.ns, n, err)
		}
	}
	ks, raw, err := p.kern.stats()
	if err != nil {
		return "", err
	}
	us := p.user.secy.Status()
	rx, _ := us.RxSC(p.sciK)
	ourSent, kernSent := us.TxSC.Stats.OutPktsEncrypted, ks["txsc.OutPktsEncrypted"]
	switch {
	case ourSent == 0 || kernSent == 0:
		return "", fmt.Errorf("nothing was sent: ours %d, kernel %d", ourSent, kernSent)
	case ks["rxsc.InPktsOK"] != 0 || rx.Stats.InPktsOK != 0 || p.user.dp.Stats().RxFrames != 0:
		return "", fmt.Errorf("frames delivered with the wrong key: kernel InPktsOK %d, ours %d, to our TAP %d",
			ks["rxsc.InPktsOK"], rx.Stats.InPktsOK, p.user.dp.Stats().RxFrames)
	case ks["rxsc.InPktsNotValid"] != ourSent:
		return "", fmt.Errorf("the kernel counted %d InPktsNotValid for the %d frames we sent\n%s", ks["rxsc.InPktsNotValid"], ourSent, raw)
	case rx.Stats.InPktsNotValid != kernSent:
		return "", fmt.Errorf("we counted %d InPktsNotValid for the %d frames the kernel sent", rx.Stats.InPktsNotValid, kernSent)
	}
	return fmt.Sprintf("0 delivered either way; kernel InPktsNotValid %d = our OutPktsEncrypted %d; our InPktsNotValid %d = kernel OutPktsEncrypted %d",
		ks["rxsc.InPktsNotValid"], ourSent, rx.Stats.InPktsNotValid, kernSent), nil
}
