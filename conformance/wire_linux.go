package conformance

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/internal/netnsx"
)

// wireWatch counts the IPv4 packets on a tunnel's outer link (both
// directions, from an AF_PACKET socket) by what they are: IKE (UDP 500, or
// UDP 4500 with the non-ESP marker), ESP (protocol 50 or ESP in UDP 4500),
// cleartext (a packet to or from a protected network, which should have
// been in the tunnel) or other (between the outer addresses: an ICMP
// error, say). Watch the end whose decrypted packets do not come back up
// the device: the kernel's xfrm hands the inner packets of ESP it received
// to the stack on the outer device, where AF_PACKET sees them again.
type wireWatch struct {
	fd                        int
	protected                 []netip.Prefix
	ike, esp, espBytes, other atomic.Uint64
	mu                        sync.Mutex
	clear                     []string // the first few, as "protocol N src > dst"
	nClear                    int
	dropped                   uint32
	done                      chan struct{}
}

// watchWire opens the socket in ns on dev and reads until close.
func watchWire(ns, dev string, protected ...netip.Prefix) (*wireWatch, error) {
	w := &wireWatch{fd: -1, protected: protected, done: make(chan struct{})}
	err := netnsx.Do(ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		w.fd = fd
		// Room for the frames that come while the reader waits for the CPU
		// (TCG); PACKET_STATISTICS counts the ones that did not fit.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20); err != nil {
			return err
		}
		// A timeout lets the reader see close.
		tv := unix.Timeval{Usec: 100_000}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		if w.fd >= 0 {
			unix.Close(w.fd)
		}
		return nil, fmt.Errorf("AF_PACKET on %s in %s: %w", dev, ns, err)
	}
	go w.read(w.fd)
	return w, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (w *wireWatch) read(fd int) {
	defer close(w.done)
	buf := make([]byte, 256<<10) // a GSO frame is one
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			if w.closed() {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		w.classify(buf[:n])
	}
}

func (w *wireWatch) closed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fd < 0
}

func (w *wireWatch) classify(f []byte) {
	if len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return // ARP and the like
	}
	ip := f[14:]
	hl := int(ip[0]&0x0f) * 4
	if len(ip) < hl {
		return
	}
	proto, l4 := ip[9], ip[hl:]
	src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
	switch {
	case proto == unix.IPPROTO_ESP:
		w.esp.Add(1)
		w.espBytes.Add(uint64(len(l4)))
		return
	case proto == unix.IPPROTO_UDP && len(l4) >= 8:
		sport, dport := binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		payload := l4[8:]
		switch {
		case sport == 500 || dport == 500:
			w.ike.Add(1)
			return
		case (sport == 4500 || dport == 4500) && len(payload) >= 4 && binary.BigEndian.Uint32(payload) == 0:
			w.ike.Add(1) // the non-ESP marker
			return
		case (sport == 4500 || dport == 4500) && len(payload) == 1 && payload[0] == 0xff:
			w.ike.Add(1) // a NAT-T keepalive
			return
		case (sport == 4500 || dport == 4500) && len(payload) >= 8:
			w.esp.Add(1)
			w.espBytes.Add(uint64(len(payload)))
			return
		}
	}
	if !slices.ContainsFunc(w.protected, func(p netip.Prefix) bool { return p.Contains(src) || p.Contains(dst) }) {
		w.other.Add(1)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.nClear < 5 {
		w.clear = append(w.clear, fmt.Sprintf("protocol %d %s > %s", proto, src, dst))
	}
	w.nClear++
}

// drops is how many frames the socket missed so far.
func (w *wireWatch) drops() uint32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fd < 0 {
		return 0
	}
	st, err := unix.GetsockoptTpacketStats(w.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return 0
	}
	w.dropped += st.Drops // the kernel zeroes its count on each read
	return w.dropped
}

// close stops the reader.
func (w *wireWatch) close() {
	w.mu.Lock()
	fd := w.fd
	w.fd = -1
	w.mu.Unlock()
	<-w.done
	if fd >= 0 {
		unix.Close(fd)
	}
}

// cleartext says how many packets were neither IKE nor ESP, with the first few.
func (w *wireWatch) cleartext() (int, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nClear, append([]string(nil), w.clear...)
}
