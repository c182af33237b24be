package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/secylab/secylab/dataplane"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
)

// check evaluates an assertion now (step ≥ 1) or at the end of the run
// (step -1).
func (r *run) check(step int, a Assertion) {
	switch {
	case a.Probe != "" && r.bulkResult(a.Probe) != nil:
		b := r.bulkResult(a.Probe)
		detail := fmt.Sprintf("%.0f Mbit/s average, longest stall %s", b.Mbps, b.MaxStall)
		if a.MaxOutage != nil {
			r.assert(step, fmt.Sprintf("%s: no stall longer than %v", a.Probe, *a.MaxOutage), time.Duration(b.MaxStall) <= *a.MaxOutage, detail)
		}
		if a.MinOutage != nil {
			r.assert(step, fmt.Sprintf("%s: a stall of at least %v", a.Probe, *a.MinOutage), time.Duration(b.MaxStall) >= *a.MinOutage, detail)
		}
		if a.MaxLoss != nil {
			r.assert(step, a.Probe+": maxLoss", false, "a bulk TCP flow has no loss count: use maxOutage (its longest stall)")
		}
	case a.Probe != "":
		var pr *ProbeResult
		for i, p := range r.probes {
			if p.spec.Name == a.Probe {
				if a.Phase == "" {
					pr = &r.report.Probes[i]
				} else {
					from, to := r.phase(a.Phase)
					res := p.resultWithin(r.start, from, to)
					pr = &res
				}
			}
		}
		if pr == nil {
			r.assert(step, "probe "+a.Probe, false, "no result for this probe")
			return
		}
		name := a.Probe
		if a.Phase != "" {
			name += " during " + a.Phase
		}
		a.Probe = name
		detail := fmt.Sprintf("%d lost of %d, longest outage %v", pr.Lost(), pr.Flows[0].Sent+pr.Flows[1].Sent, pr.MaxOutage().Round(time.Millisecond))
		if a.MaxLoss != nil {
			r.assert(step, fmt.Sprintf("%s: at most %d packets lost", a.Probe, *a.MaxLoss), pr.Lost() <= *a.MaxLoss, detail)
		}
		if a.MaxOutage != nil {
			r.assert(step, fmt.Sprintf("%s: no outage longer than %v", a.Probe, *a.MaxOutage), pr.MaxOutage() <= *a.MaxOutage, detail)
		}
		if a.MinOutage != nil {
			r.assert(step, fmt.Sprintf("%s: an outage of at least %v", a.Probe, *a.MinOutage), pr.MaxOutage() >= *a.MinOutage, detail)
		}
	case a.NoCleartext != "":
		cr := r.captureResult(a.NoCleartext)
		secured, eapol := etherTypeName(macsec.EtherType), etherTypeName(mka.EtherTypeEAPOL)
		text := a.NoCleartext + ": nothing in clear on the wire (only MACsec " + secured + " and MKA " + eapol + ")"
		if cr == nil {
			r.assert(step, text, false, "no capture of this link")
			return
		}
		var clear []string
		for et, n := range cr.EtherTypes {
			if et != secured && et != eapol {
				clear = append(clear, fmt.Sprintf("%d frames of EtherType %s", n, et))
			}
		}
		detail := fmt.Sprintf("%d frames captured %s", cr.Frames, etherTypesText(cr.EtherTypes))
		if len(clear) > 0 {
			detail = strings.Join(clear, ", ") + " in clear; " + detail
		}
		r.assert(step, text, len(clear) == 0 && cr.Error == "", detail+captureError(cr))
	case a.NoClearPayload != "":
		cr := r.captureResult(a.NoClearPayload)
		text := a.NoClearPayload + ": no traffic in clear on the wire (MACsec, MKA, ARP, IKE or ESP in UDP only)"
		if cr == nil {
			r.assert(step, text, false, "no capture of this link")
			return
		}
		detail := fmt.Sprintf("%d frames: %d ESP in UDP, %d in clear %s", cr.Frames, cr.ESPInUDP, cr.ClearPayload, etherTypesText(cr.EtherTypes))
		r.assert(step, text, cr.ClearPayload == 0 && cr.Error == "", detail+captureError(cr))
	case a.MKA != nil:
		st, err := r.lab.Status()
		var s, u int
		if err == nil {
			s, u, err = linkState(st, a.MKA.Link)
		}
		ok, _ := r.mkaHolds(*a.MKA)
		detail := fmt.Sprintf("%d of %d ends secured", s, s+u)
		if err != nil {
			detail = err.Error()
		}
		r.assert(step, fmt.Sprintf("MKA on %s is %s", a.MKA.Link, securedWord(a.MKA.Secured)), ok && err == nil, detail)
	case a.Counter != nil:
		c := a.Counter
		text := fmt.Sprintf("%s %s", c.Port, c.Name)
		if c.Min != nil {
			text += fmt.Sprintf(" ≥ %d", *c.Min)
		}
		if c.Max != nil {
			text += fmt.Sprintf(" ≤ %d", *c.Max)
		}
		st, err := r.lab.Status()
		if err != nil {
			r.assert(step, text, false, err.Error())
			return
		}
		var v uint64
		found := false
		for _, port := range st.Ports {
			if port.Node+":"+port.Name != c.Port && port.Link != c.Port {
				continue
			}
			n, ok := counterValue(port, c.Name)
			v += n
			found = found || ok
		}
		if !found {
			r.assert(step, text, false, "counter not available (no data plane, or MACsec off)")
			return
		}
		pass := (c.Min == nil || v >= *c.Min) && (c.Max == nil || v <= *c.Max)
		r.assert(step, text, pass, fmt.Sprintf("%s = %d", c.Name, v))
	}
}

// captureError says why a capture's counts cannot be trusted.
func captureError(cr *CaptureResult) string {
	if cr.Error == "" {
		return ""
	}
	return "; the capture failed: " + cr.Error
}

func (r *run) captureResult(link string) *CaptureResult {
	for i := range r.report.Captures {
		if r.report.Captures[i].Link == link {
			return &r.report.Captures[i]
		}
	}
	return nil
}

func (r *run) bulkResult(name string) *BulkResult {
	for i := range r.report.Bulk {
		if r.report.Bulk[i].Name == name {
			return &r.report.Bulk[i]
		}
	}
	return nil
}

// counterSources are the counter structs a port exposes, summed by name.
func counterSources(st lab.PortStatus) [][]macsec.Counter {
	var src [][]macsec.Counter
	if y := st.SecY; y != nil {
		src = append(src, y.Stats.Counters(), y.TxSC.Stats.Counters(), macsec.RxSCStats{}.Counters()) // an RX SC's counters exist, zero, before any SC does
		for _, sc := range y.RxSCs {
			src = append(src, sc.Stats.Counters())
		}
	}
	if st.MKACounter != nil {
		src = append(src, st.MKACounter.Counters())
	}
	return append(src, st.Dataplane.Counters())
}

// counterValue sums the counters called name across a port's counters.
func counterValue(st lab.PortStatus, name string) (uint64, bool) {
	var sum uint64
	found := false
	for _, list := range counterSources(st) {
		for _, c := range list {
			if c.Name == name {
				sum += c.Value
				found = true
			}
		}
	}
	return sum, found
}

// knownCounter reports whether name is a counter of the SecY, MKA or the
// data plane.
func knownCounter(name string) bool {
	return slices.Contains(CounterNames(), name)
}

// CounterNames lists every counter a counter assertion may name, as the
// SecY (802.1AE), MKA and data plane report them, each once, in order:
// SecY, TX SC, RX SC, MKA, data plane.
func CounterNames() []string {
	var names []string
	for _, list := range [][]macsec.Counter{macsec.SecYStats{}.Counters(), macsec.TxSCStats{}.Counters(), macsec.RxSCStats{}.Counters(),
		mka.Counters{}.Counters(), dataplane.PortStats{}.Counters()} {
		for _, c := range list {
			if !slices.Contains(names, c.Name) {
				names = append(names, c.Name)
			}
		}
	}
	return names
}
