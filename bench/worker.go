package bench

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/secylab/secylab/macsec"
)

// The layout of a protected frame without SCI: DA|SA|SecTAG is the AAD,
// the EtherType and payload (size-12 octets) are encrypted, the ICV follows.
// Bare Seal works in buffers laid out as Protect's, the AAD where Protect
// writes DA|SA|SecTAG (sealAt), bare Open in buffers laid out as
// Validate's, the frame at RxHeadroom.
const (
	addrLen  = 12
	aadLen   = addrLen + 8
	overhead = 8 + macsec.ICVLen
	sealAt   = macsec.Headroom - 8

	// ringLen protected frames are revisited by Validate and Open: a copy
	// back into the work buffer per frame, since both decrypt in place.
	ringLen = 32
	// replayWindow lets the receiver accept the ring again on every lap
	// with replay protection on, so each frame takes the OK path.
	replayWindow = 2 * ringLen
)

type op int

const (
	opProtect op = iota
	opSeal
	opValidate
	opOpen
	opRefill // untimed: protect and seal a fresh ring
)

const numOps = 4 // the timed ones

var opNames = [numOps]string{"protect", "bare seal", "validate", "bare open"}

// A worker owns one transmitting and one receiving SecY, a bare AEAD with
// the same key, and all its buffers, so workers share nothing: the
// measurement is of crypto scaling, not of contention. It works on batches
// of frames, as the data plane does on the frames of one read: through
// ProtectBatch and ValidateBatch, or Protect and Validate for batches of 1.
type worker struct {
	suite macsec.CipherSuite
	size  int
	batch int
	sci   macsec.SCI
	key   macsec.Key
	tx    *macsec.SecY
	rx    *macsec.SecY
	aead  cipher.AEAD
	clear []byte // the cleartext frame DA|SA|EtherType|payload

	pbufs  [][]byte // Protect works in place here
	sbufs  [][]byte // bare Seal works in place here
	vbufs  [][]byte // ring frames are copied here for Validate
	obufs  [][]byte // and here for bare Open
	psizes []int    // the frame sizes of a batch for ProtectBatch
	vsizes []int    // and for ValidateBatch, set once: neither changes them
	out    [][]byte
	res    []macsec.Result
	vring  [ringLen][]byte
	oring  [ringLen][]byte
	ononce [ringLen][12]byte
	nonce  [12]byte
	seq    uint64 // bare nonce counter

	// deadline ends a timed command; the coordinator sets it before
	// sending the command.
	deadline time.Time
	unTimed  int // frames since the clock was last read
	cmd      chan op
	done     chan<- struct{}

	// The outcome of the last command, read by the coordinator after done.
	frames     uint64
	start, end time.Time
	err        error
}

func newWorker(suite macsec.CipherSuite, size, batch, id int, done chan<- struct{}) (*worker, error) {
	k := macsec.Key{SAK: make([]byte, suite.KeyLen()), SSCI: 1}
	for i := range k.SAK {
		k.SAK[i] = byte(i + 16*id)
	}
	for i := range k.Salt {
		k.Salt[i] = byte(0xA0 + i)
	}
	a := macsec.NewSCI([]byte{2, 0, 0, 0, byte(id), 1}, 1)
	b := macsec.NewSCI([]byte{2, 0, 0, 0, byte(id), 2}, 1)
	// The ExpressRoute profile: SCI omitted from the SecTAG, replay
	// protection on, strict validation.
	tx, err := macsec.New(macsec.Config{Suite: suite, SCI: a})
	if err != nil {
		return nil, err
	}
	rx, err := macsec.New(macsec.Config{Suite: suite, SCI: b, ReplayProtect: true, ReplayWindow: replayWindow})
	if err != nil {
		return nil, err
	}
	if err := tx.InstallTxSA(0, k, 1); err != nil {
		return nil, err
	}
	if err := rx.AddRxSC(a); err != nil {
		return nil, err
	}
	if err := rx.InstallRxSA(a, 0, k, 1); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k.SAK)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}

	w := &worker{
		suite: suite, size: size, batch: batch, sci: a, key: k, tx: tx, rx: rx, aead: aead,
		clear:  make([]byte, size),
		pbufs:  buffers(batch, macsec.Headroom+size+macsec.ICVLen),
		sbufs:  buffers(batch, macsec.Headroom+size+macsec.ICVLen),
		vbufs:  buffers(batch, macsec.RxHeadroom+size+overhead),
		obufs:  buffers(batch, macsec.RxHeadroom+size+overhead),
		psizes: make([]int, batch),
		vsizes: make([]int, batch),
		out:    make([][]byte, batch),
		res:    make([]macsec.Result, batch),
		cmd:    make(chan op),
		done:   done,
	}
	copy(w.clear, []byte{2, 0, 0, 0, byte(id), 2, 2, 0, 0, 0, byte(id), 1, 0x08, 0x00})
	for i := 14; i < size; i++ {
		w.clear[i] = byte(i)
	}
	for i := range batch {
		w.psizes[i], w.vsizes[i] = size, size+overhead
	}
	for j := range ringLen {
		w.vring[j] = make([]byte, size+overhead)
		w.oring[j] = make([]byte, size+overhead)
	}
	if err := w.crossCheck(); err != nil {
		return nil, fmt.Errorf("%s %d B: %w", suite, size, err)
	}
	if err := w.refill(); err != nil {
		return nil, err
	}
	return w, nil
}

func buffers(n, size int) [][]byte {
	b := make([][]byte, n)
	for i := range b {
		b[i] = make([]byte, size)
	}
	return b
}

// protectClear protects a fresh copy of the cleartext frame.
func (w *worker) protectClear() ([]byte, error) {
	buf := w.pbufs[0]
	copy(buf[macsec.Headroom:], w.clear)
	f, err := w.tx.Protect(buf, macsec.Headroom, w.size)
	if err != nil {
		return nil, fmt.Errorf("protect: %w", err)
	}
	if len(f) != w.size+overhead {
		return nil, fmt.Errorf("protect: frame of %d octets, want %d", len(f), w.size+overhead)
	}
	return f, nil
}

// crossCheck opens a protected frame with the standard library and the
// 802.1AE IV built here, so an engine that only agrees with itself fails.
func (w *worker) crossCheck() error {
	f, err := w.protectClear()
	if err != nil {
		return err
	}
	if binary.BigEndian.Uint16(f[addrLen:]) != macsec.EtherType || f[addrLen+2]&(macsec.TCIE|macsec.TCIC|macsec.TCISC) != macsec.TCIE|macsec.TCIC {
		return errors.New("cross-check: protected frame does not carry an encrypting SecTAG without SCI")
	}
	pn := uint64(binary.BigEndian.Uint32(f[addrLen+4:]))
	var iv [12]byte
	if w.suite.XPN() {
		binary.BigEndian.PutUint32(iv[:4], uint32(w.key.SSCI))
		binary.BigEndian.PutUint64(iv[4:], pn)
		for i := range iv {
			iv[i] ^= w.key.Salt[i]
		}
	} else {
		binary.BigEndian.PutUint64(iv[:8], uint64(w.sci))
		binary.BigEndian.PutUint32(iv[8:], uint32(pn))
	}
	pt, err := w.aead.Open(nil, iv[:], f[aadLen:], f[:aadLen])
	if err != nil {
		return fmt.Errorf("cross-check: AES-GCM with the 802.1AE IV does not open the protected frame: %w", err)
	}
	if !bytes.Equal(f[:addrLen], w.clear[:addrLen]) || !bytes.Equal(pt, w.clear[addrLen:]) {
		return errors.New("cross-check: protected frame does not decrypt to the cleartext")
	}
	return nil
}

// refill protects and seals a ring of fresh frames with new PNs and nonces.
func (w *worker) refill() error {
	for j := range ringLen {
		f, err := w.protectClear()
		if err != nil {
			return err
		}
		copy(w.vring[j], f)
		o := w.oring[j]
		copy(o, f[:aadLen])
		copy(o[aadLen:], w.clear[addrLen:])
		w.ononce[j] = w.nextNonce()
		w.aead.Seal(o[aadLen:aadLen], w.ononce[j][:], o[aadLen:aadLen+w.size-addrLen], o[:aadLen])
	}
	return nil
}

// nextNonce counts like a PN, as a real bare-GCM user must.
func (w *worker) nextNonce() [12]byte {
	w.seq++
	binary.BigEndian.PutUint64(w.nonce[4:], w.seq)
	return w.nonce
}

func (w *worker) loop() {
	for o := range w.cmd {
		w.run(o)
		w.done <- struct{}{}
	}
	w.done <- struct{}{} // and once more on the way out
}

func (w *worker) run(o op) {
	w.frames, w.err = 0, nil
	if o == opRefill {
		w.err = w.refill()
		return
	}
	w.start = time.Now()
	w.frames = w.exec(o, math.MaxUint64)
	w.end = time.Now()
}

// exec runs o until the deadline passes or limit frames are done, in
// whole batches.
func (w *worker) exec(o op, limit uint64) uint64 {
	switch o {
	case opProtect:
		return w.protect(limit)
	case opSeal:
		return w.seal(limit)
	case opValidate:
		return w.validate(limit)
	case opOpen:
		return w.open(limit)
	}
	panic("bench: unknown operation")
}

// checkEvery frames a worker reads the clock: often enough for rounds of
// milliseconds even at 9000 octets, rarely enough to cost under 1% at 64.
// Workers stop themselves, so that no round waits for a timer to wake the
// coordinator while every P is busy.
const checkEvery = 64

// more says whether to start another batch after n frames.
func (w *worker) more(n, limit uint64) bool {
	if n >= limit {
		return false
	}
	if n == 0 {
		w.unTimed = 0
		return true
	}
	if w.unTimed += w.batch; w.unTimed < checkEvery {
		return true
	}
	w.unTimed = 0
	return time.Now().Before(w.deadline)
}

func (w *worker) protect(limit uint64) uint64 {
	var n uint64
	for w.more(n, limit) {
		if w.batch == 1 {
			f, err := w.tx.Protect(w.pbufs[0], macsec.Headroom, w.size)
			w.out[0] = f
			if err != nil {
				w.err = fmt.Errorf("protect: frame %d: %w", n, err)
				break
			}
		} else {
			if k, err := w.tx.ProtectBatch(w.pbufs, macsec.Headroom, w.psizes, w.out); k != w.batch {
				w.err = fmt.Errorf("protect: %d of a batch of %d frames from frame %d: %v", k, w.batch, n, err)
				break
			}
		}
		for i, f := range w.out {
			if len(f) != w.size+overhead {
				w.err = fmt.Errorf("protect: frame %d: %d octets", n+uint64(i), len(f))
				return n
			}
		}
		n += uint64(w.batch)
	}
	return n
}

func (w *worker) seal(limit uint64) uint64 {
	var n uint64
	for w.more(n, limit) {
		for _, b := range w.sbufs {
			w.seq++
			binary.BigEndian.PutUint64(w.nonce[4:], w.seq)
			b = b[sealAt:]
			w.aead.Seal(b[aadLen:aadLen], w.nonce[:], b[aadLen:aadLen+w.size-addrLen], b[:aadLen])
		}
		n += uint64(w.batch)
	}
	return n
}

func (w *worker) validate(limit uint64) uint64 {
	var n uint64
	var last []byte
	const off = macsec.RxHeadroom // received at an offset, as the data plane does
	for w.more(n, limit) {
		for i, b := range w.vbufs {
			copy(b[off:], w.vring[(n+uint64(i))%ringLen])
		}
		if w.batch == 1 {
			w.out[0], w.res[0] = w.rx.Validate(w.vbufs[0], off, w.vsizes[0])
		} else {
			w.rx.ValidateBatch(w.vbufs, off, w.vsizes, w.out, w.res)
		}
		for i, r := range w.res {
			if r != macsec.OK && r != macsec.Delayed || len(w.out[i]) != w.size {
				w.err = fmt.Errorf("validate: frame %d: %v (%d octets)", n+uint64(i), r, len(w.out[i]))
				return n
			}
		}
		last = w.out[len(w.out)-1]
		n += uint64(w.batch)
	}
	if last != nil && !bytes.Equal(last, w.clear) {
		w.err = errors.New("validate: the frame delivered is not the cleartext that was protected")
	}
	return n
}

func (w *worker) open(limit uint64) uint64 {
	var n uint64
	const off = macsec.RxHeadroom
	for w.more(n, limit) {
		for i, b := range w.obufs {
			copy(b[off:], w.oring[(n+uint64(i))%ringLen])
		}
		for i, b := range w.obufs {
			j := (n + uint64(i)) % ringLen
			ct := b[off+aadLen:]
			if _, err := w.aead.Open(ct[:0], w.ononce[j][:], ct, b[off:off+aadLen]); err != nil {
				w.err = fmt.Errorf("bare open: frame %d: %w", n+uint64(i), err)
				return n
			}
		}
		n += uint64(w.batch)
	}
	if b := w.obufs[len(w.obufs)-1][off+aadLen:]; n > 0 && !bytes.Equal(b[:w.size-addrLen], w.clear[addrLen:]) {
		w.err = errors.New("bare open: plaintext differs from the cleartext that was sealed")
	}
	return n
}
