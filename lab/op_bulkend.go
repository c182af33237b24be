package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/topology"
)

func init() { register(false, func() Op { return &BulkEndOp{} }) }

// BulkBucket is how often a bulk receiver reports its octets.
const BulkBucket = 250 * time.Millisecond

// BulkEndOp runs one end of a bulk TCP flow in a node of this half until
// the client half-closes the stream. The receiver listens on Addr's
// BulkPort ('O' once listening), accepts one connection and reports the
// octets received so far every BulkBucket ('B'); the sender connects from
// Addr to Peer's BulkPort ('O' once connected) and writes as fast as TCP
// takes it.
type BulkEndOp struct {
	Node string     `json:"node"`
	Addr netip.Addr `json:"addr"`
	Peer netip.Addr `json:"peer,omitzero"` // the sender's: where to connect
	Send bool       `json:"send,omitempty"`
}

func (*BulkEndOp) Kind() string { return "bulkEnd" }
func (o *BulkEndOp) Describe() string {
	return fmt.Sprintf("bulk flow end on %s %s", o.Node, o.Addr)
}

func (o *BulkEndOp) Check(t *topology.Topology) error {
	c := &opCheck{t: t}
	c.node("node", o.Node)
	if o.Send && !o.Peer.IsValid() {
		c.errorf("peer", "missing: a sender connects to its peer")
	}
	return c.err()
}

func (o *BulkEndOp) Apply(context.Context, *Lab) (any, error) {
	return nil, errors.New("a bulk end is a stream: use Client.Stream")
}

func (o *BulkEndOp) Stream(ctx context.Context, l *Lab, c net.Conn) error {
	ns := topology.NamespaceName(l.topo.Name, o.Node)
	w := &recordWriter{w: bufio.NewWriter(c)}
	hangUp := untilHangUp(ctx, c)
	if o.Send {
		var conn net.Conn
		err := netnsx.Do(ns, func() (err error) {
			d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(o.Addr, 0)), Timeout: 5 * time.Second}
			conn, err = d.Dial("tcp", netip.AddrPortFrom(o.Peer, BulkPort).String())
			return err
		})
		if err != nil {
			return fmt.Errorf("bulk flow: %w", err)
		}
		defer conn.Close()
		w.put(RecordOpen)
		if err := w.flush(); err != nil {
			return err
		}
		buf := make([]byte, 64<<10)
		for {
			select {
			case <-hangUp:
				w.put(RecordEnd)
				return w.flush()
			default:
			}
			conn.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err := conn.Write(buf); err != nil && !isTimeout(err) {
				<-hangUp
				w.put(RecordEnd)
				return w.flush()
			}
		}
	}
	var ln net.Listener
	if err := netnsx.Do(ns, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(o.Addr, BulkPort).String())
		return err
	}); err != nil {
		return fmt.Errorf("bulk flow: %w", err)
	}
	defer ln.Close()
	w.put(RecordOpen)
	if err := w.flush(); err != nil {
		return err
	}
	var got atomic.Uint64
	go func() {
		rx, err := ln.Accept()
		if err != nil {
			return
		}
		defer rx.Close()
		go func() { <-hangUp; rx.Close() }()
		buf := make([]byte, 64<<10)
		for {
			n, err := rx.Read(buf)
			got.Add(uint64(n))
			if err != nil {
				return
			}
		}
	}()
	t := time.NewTicker(BulkBucket)
	defer t.Stop()
	for {
		select {
		case <-hangUp:
			w.put(RecordEnd)
			return w.flush()
		case <-t.C:
			w.put(RecordBytes, got.Load())
			if err := w.flush(); err != nil {
				return err
			}
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
