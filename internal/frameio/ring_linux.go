package frameio

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rxRing is a packet socket's receive ring (PACKET_RX_RING, TPACKET_V2):
// the kernel copies each frame into the next free slot as it arrives and
// frees the skb there and then, so a Read is a walk over the slots the
// kernel has filled, without a system call, and the receive queue and
// recvmmsg's per-message work are gone. A Read copies a frame out of its
// slot into the caller's buffer (the Device contract) and gives the slot
// back.
//
// The ring is read only inside the socket's RawConn callback: Close of
// the file waits for a callback in progress, so the ring is unmapped
// when no reader can touch it.
type rxRing struct {
	mem   []byte
	slot  int // octets per slot
	slots int
	head  int // the next slot to read

	// last is when the previous Read took frames: within streamGap of
	// it, a stream is flowing and a Read gathers (see read).
	last time.Time

	// per-call state of a Read
	bufs  [][]byte
	sizes []int
	off   int
	n     int

	truncated *atomic.Uint64
	unmapped  atomic.Bool
}

const (
	// ringBytes is about what one receive ring holds. It is memory the
	// process maps (and counts in its RSS once the ring has gone round),
	// per packet socket: 512 slots of 2 KiB for a 1500-octet link, the
	// frames of about 1.5 ms at 4 Gbit/s.
	ringBytes = 1 << 20
	minSlots  = 128
	// tpacket2HdrLen is TPACKET2_HDRLEN: the slot header and the
	// sockaddr_ll behind it; a frame starts after them, aligned.
	tpacket2HdrLen = unix.SizeofTpacket2Hdr + unix.SizeofSockaddrLinklayer
)

// newRxRing sets up a TPACKET_V2 receive ring on fd, a packet socket not
// yet bound, with slots that hold a frame of the link's MTU with two VLAN
// tags.
func newRxRing(fd, mtu int) (*rxRing, error) {
	need := tpacketAlign(tpacket2HdrLen+16) + 14 + 8 + mtu + 4
	slot := 2048
	for slot < need {
		slot *= 2
	}
	page := unix.Getpagesize()
	block := max(slot, page)
	slots := max(ringBytes/slot, minSlots)
	slots -= slots % (block / slot)
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return nil, fmt.Errorf("PACKET_VERSION TPACKET_V2: %w", err)
	}
	req := unix.TpacketReq{Block_size: uint32(block), Block_nr: uint32(slots * slot / block), Frame_size: uint32(slot), Frame_nr: uint32(slots)}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return nil, fmt.Errorf("PACKET_RX_RING: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, slots*slot, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap of the receive ring: %w", err)
	}
	return &rxRing{mem: mem, slot: slot, slots: slots}, nil
}

func tpacketAlign(n int) int { return (n + unix.TPACKET_ALIGNMENT - 1) &^ (unix.TPACKET_ALIGNMENT - 1) }

func (r *rxRing) hdr(i int) *unix.Tpacket2Hdr {
	return (*unix.Tpacket2Hdr)(unsafe.Pointer(&r.mem[i*r.slot]))
}

// ready reports whether the kernel has filled the head slot.
func (r *rxRing) ready() bool {
	return atomic.LoadUint32(&r.hdr(r.head).Status)&unix.TP_STATUS_USER != 0
}

// take copies the filled slots into the caller's buffers, up to len(bufs),
// and gives them back to the kernel.
func (r *rxRing) take() {
	for r.n < len(r.bufs) && r.ready() {
		h := r.hdr(r.head)
		slot := r.mem[r.head*r.slot : (r.head+1)*r.slot]
		size, ok := int(h.Snaplen), h.Snaplen == h.Len && int(h.Mac)+int(h.Snaplen) <= r.slot
		b := r.bufs[r.n][r.off:]
		if ok && size+4 <= len(b) { // room for a tag to put back
			copy(b, slot[h.Mac:int(h.Mac)+size])
			if h.Status&unix.TP_STATUS_VLAN_VALID != 0 {
				tpid := uint16(0x8100)
				if h.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
					tpid = h.Vlan_tpid
				}
				size = putTag(b, size, tpid, h.Vlan_tci)
			}
			r.sizes[r.n] = size
			r.n++
		} else {
			r.truncated.Add(1)
		}
		atomic.StoreUint32(&h.Status, unix.TP_STATUS_KERNEL)
		if r.head++; r.head == r.slots {
			r.head = 0
		}
	}
}

// read is the RawConn callback of a Read: it takes what the ring holds,
// gathering more while a stream flows; nothing lets the caller park.
func (r *rxRing) read(uintptr) bool {
	r.take()
	if r.n == 0 {
		return false
	}
	now := time.Now()
	if r.n < gatherFrames && now.Sub(r.last) < streamGap {
		for i := 1; r.n < gatherFrames && r.n < len(r.bufs); i++ {
			if r.ready() {
				r.take()
				continue
			}
			if i%32 == 0 && time.Since(now) > gatherTime {
				break
			}
		}
	}
	r.last = now
	return true
}

// close unmaps the ring, once; the socket's file must be closed already.
func (r *rxRing) close() {
	if !r.unmapped.Swap(true) {
		unix.Munmap(r.mem)
	}
}

// putTag inserts an 802.1Q/802.1ad tag (tpid, tci) after the MAC
// addresses of the frame in b (size octets, room for 4 more) and returns
// the new size.
func putTag(b []byte, size int, tpid, tci uint16) int {
	if size < 12 {
		return size
	}
	copy(b[16:size+4], b[12:size])
	binary.BigEndian.PutUint16(b[12:], tpid)
	binary.BigEndian.PutUint16(b[14:], tci)
	return size + 4
}

// ifaceMTU is the MTU of ifi, or 1500 if it says none.
func ifaceMTU(ifi *net.Interface) int {
	if ifi.MTU > 0 {
		return ifi.MTU
	}
	return 1500
}
