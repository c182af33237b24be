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
