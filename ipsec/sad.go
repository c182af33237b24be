package ipsec

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// SAD is the security association database: the SAs of one gateway,
// found by SPI for inbound packets and by reqid for outbound ones, as in
// xfrm. Lookups take no lock and allocate nothing; changes copy.
type SAD struct {
	mu   sync.Mutex // serialises changes
	snap atomic.Pointer[sadSnapshot]
}

type sadSnapshot struct {
	all     []*SA
	inbound map[uint32][]*SA // by SPI
	out     map[uint32]*SA   // by reqid
}

func (d *SAD) load() *sadSnapshot {
	if s := d.snap.Load(); s != nil {
		return s
	}
	return &sadSnapshot{}
}

// Add adds an SA. An SA with the same SPI, destination and direction is
// refused, as is a second outbound SA for a reqid.
func (d *SAD) Add(sa *SA) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.load()
	c := sa.cfg
	for _, o := range old.all {
		oc := o.cfg
		if oc.SPI == c.SPI && oc.Dst == c.Dst && oc.Dir == c.Dir {
			return fmt.Errorf("SAD: an SA with SPI %#x to %v (%v) exists", c.SPI, c.Dst, c.Dir)
		}
		if c.Dir == DirOut && oc.Dir == DirOut && oc.ReqID == c.ReqID {
			return fmt.Errorf("SAD: reqid %d already has an outbound SA (SPI %#x)", c.ReqID, oc.SPI)
		}
	}
	d.publish(append(slices.Clip(old.all), sa))
	return nil
}

// Swap adds the outbound SA sa in place of the outbound SA of its reqid,
// in one step (make-before-break: no packet finds no SA), and returns the
// SA it replaced (nil: none), so that the caller may zero it.
func (d *SAD) Swap(sa *SA) (*SA, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := sa.cfg
	if c.Dir != DirOut {
		return nil, fmt.Errorf("SAD: swap SPI %#x: only an outbound SA replaces another", c.SPI)
	}
	old := d.load()
	all := slices.Clone(old.all)
	var prev *SA
	for i, o := range all {
		if o.cfg.Dir == DirOut && o.cfg.ReqID == c.ReqID {
			prev = o
			all = slices.Delete(all, i, i+1)
			break
		}
	}
	for _, o := range all {
		if o.cfg.SPI == c.SPI && o.cfg.Dst == c.Dst && o.cfg.Dir == c.Dir {
			return nil, fmt.Errorf("SAD: an SA with SPI %#x to %v (%v) exists", c.SPI, c.Dst, c.Dir)
		}
	}
	d.publish(append(all, sa))
	return prev, nil
}

// Del removes the SA with the SPI and destination and returns it, so that
// the caller may zero it.
func (d *SAD) Del(spi uint32, dst netip.Addr) (*SA, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.load()
	i := slices.IndexFunc(old.all, func(sa *SA) bool { return sa.cfg.SPI == spi && sa.cfg.Dst == dst })
	if i < 0 {
		return nil, fmt.Errorf("SAD: no SA with SPI %#x to %v", spi, dst)
	}
	sa := old.all[i]
	d.publish(slices.Delete(slices.Clone(old.all), i, i+1))
	return sa, nil
}

func (d *SAD) publish(all []*SA) {
	s := &sadSnapshot{all: all, inbound: map[uint32][]*SA{}, out: map[uint32]*SA{}}
	for _, sa := range all {
		if sa.cfg.Dir == DirIn {
			s.inbound[sa.cfg.SPI] = append(s.inbound[sa.cfg.SPI], sa)
		} else {
			s.out[sa.cfg.ReqID] = sa
		}
	}
	d.snap.Store(s)
}

// Inbound finds the inbound SA of a packet: the longest match of
// {SPI, dst, src}, then {SPI, dst}, then {SPI} (RFC 4303 §2.1).
func (d *SAD) Inbound(spi uint32, dst, src netip.Addr) *SA {
	var best *SA
	score := -1
	for _, sa := range d.load().inbound[spi] {
		s := 0
		if sa.cfg.Dst == dst {
			s = 2
			if sa.cfg.Src == src {
				s = 3
			}
		}
		if s > score {
			best, score = sa, s
		}
	}
	return best
}

// Outbound returns the outbound SA of a reqid, or nil.
func (d *SAD) Outbound(reqid uint32) *SA { return d.load().out[reqid] }

// List returns the SAs in the order they were added.
func (d *SAD) List() []*SA { return slices.Clone(d.load().all) }
