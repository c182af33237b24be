package gateway

import (
	"fmt"
	"io"

	"github.com/secylab/secylab/ipsec"
)

// DataPathStats counts what the userspace data path did with packets
// that no SA counted.
type DataPathStats struct {
	TxPackets, RxPackets uint64 // sealed and sent; opened and delivered
	NoPolicy             uint64 // outbound: no policy, or one that discards
	NoSA                 uint64 // outbound: the policy's template has no SA
	SealFailed           uint64 // outbound: the SA refused (expired, overflow)
	MSSClamped           uint64 // SYNs whose MSS was lowered
	NotESP               uint64 // inbound: IKE, keepalives, runts on the ESP port
	Drops                [ipsec.NumResults]uint64
	Truncated            uint64 // inbound datagrams larger than a buffer
	TUNRefused           uint64 // inner packets the TUN refused

	// TUN offloads (TSO both ways), when the kernel accepted them.
	TUNOffload   bool
	TUNReads     uint64 // reads that returned a packet
	SuperPackets uint64 // TCP super-packets read
	Segments     uint64 // segments cut from them
	TUNWrites    uint64 // write system calls
	Coalesced    uint64 // inner packets written as part of a super-packet
	TUNBad       uint64 // reads dropped: malformed super-packets
	UDPGSOSends  uint64 // sends of several ESP packets as one UDP_SEGMENT message
	UDPGRORecvs  uint64 // receives of several ESP packets coalesced (UDP_GRO)
}

// WriteDataPath writes the userspace data path's counters, with the drop
// reasons that occurred.
func WriteDataPath(w io.Writer, d DataPathStats) error {
	fmt.Fprintf(w, "data path: tx %d rx %d no-policy %d no-sa %d seal-failed %d mss-clamped %d not-esp %d truncated %d tun-refused %d\n",
		d.TxPackets, d.RxPackets, d.NoPolicy, d.NoSA, d.SealFailed, d.MSSClamped, d.NotESP, d.Truncated, d.TUNRefused)
	if d.TUNOffload {
		fmt.Fprintf(w, "\ttun offload: reads %d super-packets %d segments %d writes %d coalesced %d bad %d\n",
			d.TUNReads, d.SuperPackets, d.Segments, d.TUNWrites, d.Coalesced, d.TUNBad)
	}
	if d.UDPGSOSends+d.UDPGRORecvs > 0 {
		fmt.Fprintf(w, "\tudp offload: gso-sends %d gro-receives %d\n", d.UDPGSOSends, d.UDPGRORecvs)
	}
	for r, n := range d.Drops {
		if n > 0 {
			fmt.Fprintf(w, "\tdropped %d: %v\n", n, ipsec.Result(r))
		}
	}
	return nil
}
