package routers

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/secylab/secylab/bgp"
	"github.com/secylab/secylab/bgp/bfd"
)

// ParseBIRDProtocols reads BIRD 2's `show protocols all` into one
// neighbour per BGP protocol: its name, address, AS, state and the
// routes of its channels (imported as accepted, exported as advertised).
// Protocols disabled by configuration (state down, no info) are left
// out: nobody expects them Established.
func ParseBIRDProtocols(out string) []bgp.NeighborStatus {
	return parseBIRDProtocols(out, time.Now())
}

// parseBIRDProtocols is ParseBIRDProtocols at the time now: a protocol's
// Since column is a time of day (BIRD's default within a day) or a date,
// in the daemon's local time.
func parseBIRDProtocols(out string, now time.Time) []bgp.NeighborStatus {
	var nbrs []bgp.NeighborStatus
	var cur *bgp.NeighborStatus
	fam := bgp.IPv4Unicast
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if line[0] != ' ' { // a protocol's first line: Name Proto Table State Since Info
			cur = nil
			if len(f) >= 4 && f[1] == "BGP" && !(f[3] == "down" && len(f) <= 5) {
				nbrs = append(nbrs, bgp.NeighborStatus{Name: f[0], State: birdState(f[3], f[5:]),
					Received: map[bgp.Family]int{}, Accepted: map[bgp.Family]int{}, Advertised: map[bgp.Family]int{}})
				cur = &nbrs[len(nbrs)-1]
				if len(f) >= 5 {
					cur.Uptime = birdSince(f[4], now)
				}
			}
			continue
		}
		if cur == nil {
			continue
		}
		key, val, _ := strings.Cut(strings.TrimSpace(line), ":")
		val = strings.TrimSpace(val)
		switch key {
		case "BGP state":
			cur.State = birdState("up", []string{val})
		case "Neighbor address":
			cur.Address, _ = netip.ParseAddr(val)
		case "Neighbor AS":
			asn, _ := strconv.ParseUint(val, 10, 32)
			cur.ASN = uint32(asn)
		case "Neighbor ID":
			cur.RouterID, _ = netip.ParseAddr(val)
		case "Hold timer": // "163.901/180": left/negotiated, in seconds
			cur.HoldTime = birdTimer(val)
		case "Keepalive timer": // "54.408/60"
			cur.KeepaliveTime = birdTimer(val)
		case "Last error": // "BFD session down", "Error: Hold timer expired", "Received: Cease"
			cur.LastError = val
		case "Channel ipv4":
			fam = bgp.IPv4Unicast
		case "Channel ipv6":
			fam = bgp.IPv6Unicast
		case "Routes": // "1 imported, 1 exported, 1 preferred"
			for _, part := range strings.Split(val, ",") {
				n, what, _ := strings.Cut(strings.TrimSpace(part), " ")
				v, _ := strconv.Atoi(n)
				switch what {
				case "imported":
					cur.Accepted[fam], cur.Received[fam] = v, v
				case "exported":
					cur.Advertised[fam] = v
				}
			}
			if !slices.Contains(cur.Families, fam) {
				cur.Families = append(cur.Families, fam)
			}
		}
	}
	return nbrs
}

// birdTimer reads the negotiated interval of a timer BIRD shows as
// "left/interval" in seconds; 0 if there is none.
func birdTimer(v string) time.Duration {
	_, iv, ok := strings.Cut(v, "/")
	if !ok {
		return 0
	}
	return birdSeconds(iv)
}

// birdSeconds reads seconds with a fraction ("0.300", "180"); 0 if v is
// not that.
func birdSeconds(v string) time.Duration {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1e6 {
		return 0
	}
	return time.Duration(f * float64(time.Second)).Round(time.Millisecond)
}

// birdSince is how long ago a Since column's time was at now: a time of
// day ("03:39:58.696", within the last day) or a date ("2026-12-01");
// 0 if it is neither.
func birdSince(v string, now time.Time) time.Duration {
	if t, err := time.ParseInLocation("15:04:05.000", v, now.Location()); err == nil {
		y, m, d := now.Date()
		t = time.Date(y, m, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), now.Location())
		if t.After(now) {
			t = t.AddDate(0, 0, -1)
		}
		return now.Sub(t)
	}
	if t, err := time.ParseInLocation("2006-01-02", v, now.Location()); err == nil && !t.After(now) {
		return now.Sub(t)
	}
	return 0
}

// ParseBIRDBFDSessions reads BIRD 2's `show bfd sessions`: a line per
// session under each BFD protocol's header, "IP address  Interface
// State  Since  Interval  Timeout", Interval being the negotiated
// transmit interval and Timeout the detection time, in seconds, Since
// when the session entered its state.
func ParseBIRDBFDSessions(out string) []bfd.Status {
	return parseBIRDBFDSessions(out, time.Now())
}

// parseBIRDBFDSessions is ParseBIRDBFDSessions at the time now, which
// turns a session's Since column into a time.
func parseBIRDBFDSessions(out string, now time.Time) []bfd.Status {
	var ss []bfd.Status
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		addr, err := netip.ParseAddr(f[0])
		if err != nil {
			continue // the header, a protocol's name
		}
		st := bfd.Status{Peer: addr, State: bfd.Down}
		for s := bfd.AdminDown; s <= bfd.Up; s++ {
			if strings.EqualFold(f[2], s.String()) {
				st.State = s
			}
		}
		st.TxInterval, st.DetectTime = birdSeconds(f[len(f)-2]), birdSeconds(f[len(f)-1])
		if d := birdSince(f[3], now); d > 0 {
			st.Since = now.Add(-d) // a flap between two looks shows as a new Since
		}
		ss = append(ss, st)
	}
	return ss
}

// birdState is the BGP state of a protocol from its state column and
// its info (BIRD shows Idle, Connect, Active, OpenSent, OpenConfirm,
// Established there).
func birdState(state string, info []string) bgp.State {
	if state != "up" && state != "start" {
		return bgp.Idle
	}
	if len(info) > 0 {
		for s := bgp.Idle; s <= bgp.Established; s++ {
			if strings.EqualFold(info[0], s.String()) {
				return s
			}
		}
	}
	if state == "up" {
		return bgp.Established
	}
	return bgp.Idle
}

// frrNeighbor is the part of FRR's `show bgp neighbors json` read here.
type frrNeighbor struct {
	RemoteAs          uint32 `json:"remoteAs"`
	RemoteRouterID    string `json:"remoteRouterId"`
	Desc              string `json:"nbrDesc"`
	State             string `json:"bgpState"`
	AdminShutDown     bool   `json:"adminShutDown"`
	LastReset         string `json:"lastResetDueTo"` // "BFD down received", "Waiting for peer OPEN"
	UpMsec            int64  `json:"bgpTimerUpMsec"`
	HoldMsec          int64  `json:"bgpTimerHoldTimeMsecs"`
	KeepaliveMsec     int64  `json:"bgpTimerKeepAliveIntervalMsecs"`
	AddressFamilyInfo map[string]struct {
		Accepted int `json:"acceptedPrefixCounter"`
		Sent     int `json:"sentPrefixCounter"`
	} `json:"addressFamilyInfo"`
	BFD *struct {
		Mult   uint8  `json:"detectMultiplier"`
		RxMin  int64  `json:"rxMinInterval"`
		TxMin  int64  `json:"txMinInterval"`
		Status string `json:"status"`
	} `json:"peerBfdInfo"`
}

// ParseFRRNeighbors reads FRR's `show bgp neighbors json`, keyed by the
// neighbour's address, into neighbours named by their description (or
// address), in address order. Neighbours shut down by configuration
// are left out.
func ParseFRRNeighbors(out []byte) ([]bgp.NeighborStatus, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("routers: FRR's show bgp neighbors json: %w", err)
	}
	var nbrs []bgp.NeighborStatus
	for k, raw := range m {
		addr, err := netip.ParseAddr(k)
		if err != nil {
			continue // a peer group or interface neighbour's key
		}
		var f frrNeighbor
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("routers: FRR's neighbour %s: %w", k, err)
		}
		if f.AdminShutDown {
			continue
		}
		n := bgp.NeighborStatus{Name: cmp.Or(f.Desc, k), Address: addr, ASN: f.RemoteAs, State: bgp.Idle,
			Uptime: time.Duration(f.UpMsec) * time.Millisecond, HoldTime: time.Duration(f.HoldMsec) * time.Millisecond,
			KeepaliveTime: time.Duration(f.KeepaliveMsec) * time.Millisecond,
			Received:      map[bgp.Family]int{}, Accepted: map[bgp.Family]int{}, Advertised: map[bgp.Family]int{}}
		n.RouterID, _ = netip.ParseAddr(f.RemoteRouterID)
		n.LastError = f.LastReset
		for s := bgp.Idle; s <= bgp.Established; s++ {
			if f.State == s.String() {
				n.State = s
			}
		}
		for name, fam := range map[string]bgp.Family{"ipv4Unicast": bgp.IPv4Unicast, "ipv6Unicast": bgp.IPv6Unicast} {
			if a, ok := f.AddressFamilyInfo[name]; ok {
				n.Families = append(n.Families, fam)
				n.Received[fam], n.Accepted[fam], n.Advertised[fam] = a.Accepted, a.Accepted, a.Sent
			}
		}
		slices.Sort(n.Families)
		if b := f.BFD; b != nil {
			st := bfd.Down
			if b.Status == "Up" {
				st = bfd.Up
			}
			// FRR shows only its own intervals: its transmit one stands
			// for the negotiated (lab bgp printed "Up 0s×3").
			tx := time.Duration(b.TxMin) * time.Millisecond
			n.BFD = &bfd.Status{Peer: addr, State: st, DetectMult: b.Mult,
				RequiredMinRx: time.Duration(b.RxMin) * time.Millisecond, DesiredMinTx: tx, TxInterval: tx}
		}
		nbrs = append(nbrs, n)
	}
	slices.SortFunc(nbrs, func(a, b bgp.NeighborStatus) int { return a.Address.Compare(b.Address) })
	return nbrs, nil
}
