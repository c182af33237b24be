package conformance

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/secylab/secylab/internal/netnsx"
)

// ping sends count ICMP echo requests from namespace ns to dst, gap apart,
// and returns how many were answered, waiting up to wait after the last.
// It is done here rather than with ping(8) so that the guest needs no
// particular ping and the count is exact.
func ping(ns, dst string, count int, gap, wait time.Duration) (int, error) {
	var c net.PacketConn
	err := netnsx.Do(ns, func() error {
		var err error
		c, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("ping from %s: %w", ns, err)
	}
	defer c.Close()
	to := &net.IPAddr{IP: net.ParseIP(dst)}
	id := uint16(rand.Uint32())
	got := make(map[uint16]bool)
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			// Echo reply (type 0) to our identifier; Go strips the IPv4 header.
			if n >= 8 && buf[0] == 0 && binary.BigEndian.Uint16(buf[4:]) == id && from.String() == dst {
				mu.Lock()
				got[binary.BigEndian.Uint16(buf[6:])] = true
				full := len(got) == count
				mu.Unlock()
				if full {
					return
				}
			}
		}
	}()
	for seq := range count {
		msg := make([]byte, 8+56)
		msg[0] = 8 // echo request
		binary.BigEndian.PutUint16(msg[4:], id)
		binary.BigEndian.PutUint16(msg[6:], uint16(seq))
		for i := 8; i < len(msg); i++ {
			msg[i] = byte(i)
		}
		binary.BigEndian.PutUint16(msg[2:], inetChecksum(msg))
		if _, err := c.WriteTo(msg, to); err != nil {
			return 0, fmt.Errorf("ping %s from %s: %w", dst, ns, err)
		}
		if seq < count-1 {
			time.Sleep(gap)
		}
	}
	select {
	case <-done:
	case <-time.After(wait):
	}
	c.Close()
	<-done
	mu.Lock()
	defer mu.Unlock()
	return len(got), nil
}

func inetChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// pingBoth pings a→b and b→a, count each, and fails unless every echo was
// answered.
func pingBoth(nsA, ipA, nsB, ipB string, count int) error {
	for _, d := range []struct{ ns, dst string }{{nsA, ipB}, {nsB, ipA}} {
		n, err := ping(d.ns, d.dst, count, 100*time.Millisecond, 3*time.Second)
		if err != nil {
			return err
		}
		if n != count {
			return fmt.Errorf("ping %s from %s: %d/%d answered", d.dst, d.ns, n, count)
		}
	}
	return nil
}

// exchange is a TCP transfer both ways at once: the client and the server
// each send n pseudo-random octets and check the SHA-256 of what they
// receive.
type exchange struct {
	n    int
	pace time.Duration // sleep between 16 KiB writes; 0: as fast as TCP goes
	mid  func()        // called once the client has sent half its data
}

const exchangePort = 7447

// run connects from cliNS to srvIP in srvNS and moves the data.
func (x exchange) run(ctx context.Context, srvNS, srvIP, cliNS string) error {
	var ln net.Listener
	err := netnsx.Do(srvNS, func() error {
		var err error
		ln, err = net.Listen("tcp4", net.JoinHostPort(srvIP, fmt.Sprint(exchangePort)))
		return err
	})
	if err != nil {
		return fmt.Errorf("TCP listen in %s: %w", srvNS, err)
	}
	defer ln.Close()
	var conn net.Conn
	err = netnsx.Do(cliNS, func() error {
		var err error
		d := net.Dialer{Timeout: 10 * time.Second}
		conn, err = d.DialContext(ctx, "tcp4", net.JoinHostPort(srvIP, fmt.Sprint(exchangePort)))
		return err
	})
	if err != nil {
		return fmt.Errorf("TCP connect from %s to %s: %w", cliNS, srvIP, err)
	}
	srv, err := ln.Accept()
	if err != nil {
		conn.Close()
		return fmt.Errorf("TCP accept in %s: %w", srvNS, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close(); srv.Close() })
	defer stop()
	defer conn.Close()
	defer srv.Close()

	errs := make(chan error, 4)
	go func() { errs <- x.send(conn, 1, x.mid, "to the server") }()
	go func() { errs <- x.send(srv, 2, nil, "to the client") }()
	go func() { errs <- x.recv(srv, 1, "server") }()
	go func() { errs <- x.recv(conn, 2, "client") }()
	var first error
	for range 4 {
		if err := <-errs; err != nil && first == nil {
			first = err
			conn.Close()
			srv.Close()
		}
	}
	if first != nil && ctx.Err() != nil {
		return fmt.Errorf("TCP transfer of %d octets each way: %w", x.n, ctx.Err())
	}
	return first
}

// stream returns the n octets the sender with this seed sends.
func stream(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}

func (x exchange) send(c net.Conn, seed uint64, mid func(), what string) error {
	src := stream(seed)
	buf := make([]byte, 16<<10)
	for sent := 0; sent < x.n; {
		chunk := buf[:min(len(buf), x.n-sent)]
		src.Read(chunk)
		if _, err := c.Write(chunk); err != nil {
			return fmt.Errorf("TCP send %s after %d of %d octets: %w", what, sent, x.n, err)
		}
		before := sent
		sent += len(chunk)
		if mid != nil && before < x.n/2 && sent >= x.n/2 {
			mid()
		}
		if x.pace > 0 {
			time.Sleep(x.pace)
		}
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return tc.CloseWrite()
	}
	return nil
}

func (x exchange) recv(c net.Conn, seed uint64, who string) error {
	want := sha256.New()
	io.CopyN(want, stream(seed), int64(x.n))
	got := sha256.New()
	n, err := io.Copy(got, c)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("TCP: the %s received %d of %d octets: %w", who, n, x.n, err)
	}
	if n != int64(x.n) {
		return fmt.Errorf("TCP: the %s received %d of %d octets", who, n, x.n)
	}
	if string(got.Sum(nil)) != string(want.Sum(nil)) {
		return fmt.Errorf("TCP: the %s received %d octets with a wrong SHA-256", who, n)
	}
	return nil
}
