package conformance

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secylab/secylab/dataplane"
	"github.com/secylab/secylab/internal/frameio"
	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/macsec"
)

// userSecY is secylab's side of a link, as a node's port has it: a TAP
// (the controlled port, where the namespace's IP stack sees cleartext), a
// SecY, and an AF_PACKET socket on the veth (the uncontrolled port).
type userSecY struct {
	secy *macsec.SecY
	dp   *dataplane.Port
	tags *tagRecorder
}

// tapMTU leaves room for the SecTAG with SCI and the ICV inside the veth's
// 1500 octets, as the kernel does for its macsec device.
const tapMTU = 1500 - 32

// openUserSecY opens the TAP tap in ns with mac and addr (CIDR) and runs
// the port on wire until the lab closes. y may be nil (MKA installs one).
func (l *testbed) openUserSecY(ns, tap, wire, mac, addr string, y *macsec.SecY) (*userSecY, error) {
	var t *frameio.TAP
	var ps *frameio.PacketSocket
	err := netnsx.Do(ns, func() error {
		var err error
		if t, err = frameio.OpenTAP(tap); err != nil {
			return err
		}
		if ps, err = frameio.OpenPacket(wire); err != nil {
			t.Close()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("userspace SecY in %s: %w", ns, err)
	}
	u := &userSecY{secy: y, dp: dataplane.NewPort(ns+":"+tap, t, ps, y, 1), tags: &tagRecorder{}}
	u.dp.SetMirror(dataplane.Wire, u.tags)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		u.dp.Run(ctx)
	}()
	l.onClose(func() { cancel(); <-done })
	err = l.all(ns,
		[]string{"link", "set", tap, "address", mac, "mtu", fmt.Sprint(tapMTU)},
		[]string{"addr", "add", addr, "dev", tap},
		[]string{"link", "set", tap, "up"})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// tagRecorder counts, on the wire side of the port, the MACsec frames
// each source MAC sent with and without an SCI in the SecTAG.
type tagRecorder struct {
	mu      sync.Mutex
	withSCI map[string]int
	noSCI   map[string]int
	frames  atomic.Uint64
}

func (r *tagRecorder) Capture(_ time.Time, frame []byte) {
	r.frames.Add(1)
	if len(frame) < 16 || frame[12] != 0x88 || frame[13] != 0xe5 {
		return
	}
	src := net.HardwareAddr(frame[6:12]).String()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.withSCI == nil {
		r.withSCI, r.noSCI = map[string]int{}, map[string]int{}
	}
	if frame[14]&macsec.TCISC != 0 {
		r.withSCI[src]++
	} else {
		r.noSCI[src]++
	}
}

// counts returns how many MACsec frames from src had an SCI and how many not.
func (r *tagRecorder) counts(src string) (with, without int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.withSCI[src], r.noSCI[src]
}
