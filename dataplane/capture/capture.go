// Package capture reads and writes Ethernet frames in pcap and pcapng files,
// in pure Go (gopacket's pcapgo, no libpcap), so captures open in Wireshark
// and tshark.
package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/secylab/secylab/internal/secret"
)

// Format is a capture file format.
type Format uint8

const (
	PCAP   Format = iota // libpcap, microsecond timestamps
	PCAPNG               // pcapng, nanosecond timestamps
)

func (f Format) String() string {
	if f == PCAPNG {
		return "pcapng"
	}
	return "pcap"
}

// FormatFor chooses the format from a file name: pcapng when it ends in
// .pcapng, pcap otherwise.
func FormatFor(name string) Format {
	if strings.EqualFold(filepath.Ext(name), ".pcapng") {
		return PCAPNG
	}
	return PCAP
}

// MaxSnapLen is libpcap's MAXIMUM_SNAPLEN: a capture with this snap length
// keeps every frame whole ("full payload").
const MaxSnapLen = 262144

// DefaultSnapLen is what a lab capture keeps of each frame unless told
// otherwise: enough to read every header and the start of the payload of a
// MACsec frame, with room for two VLAN tags in front of it —
//
//	destination and source addresses   12
//	two VLAN tags (802.1Q/802.1ad)      8
//	EtherType 0x88E5                    2
//	SecTAG: TCI/AN, SL, PN, SCI        14
//	the first octets of secure data    64
//	                                  ---
//	                                  100
//
// Without MACsec the same 100 octets hold an untagged Ethernet, IPv4 and
// TCP header with room to spare. The ICV at the end of a MACsec frame is
// cut, so a frame kept at this length can be decoded but not validated:
// capture the full payload (MaxSnapLen) to decrypt.
const DefaultSnapLen = 12 + 2*4 + 2 + 14 + 64

// Packet is one captured frame.
type Packet struct {
	Timestamp time.Time
	Data      []byte
	// Length is the frame's length on the wire; more than len(Data) when
	// the capture cut the frame at its snap length.
	Length int
}

// Truncated reports whether the capture holds only part of the frame.
func (p Packet) Truncated() bool { return p.Length > len(p.Data) }

// ErrNotCapture is returned for input that is neither pcap nor pcapng.
var ErrNotCapture = errors.New("not a pcap or pcapng file (unknown magic number)")

// Magic numbers, as the first four octets of the file.
var (
	pcapMagics = [][4]byte{
		{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4}, // microseconds, LE and BE
		{0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d}, // nanoseconds, LE and BE
	}
	pcapngMagic = [4]byte{0x0a, 0x0d, 0x0d, 0x0a} // section header block type
)

// packetReader is what pcapgo's two readers have in common.
type packetReader interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Reader reads Ethernet frames from a pcap or pcapng stream.
type Reader struct {
	format    Format
	r         packetReader
	dropped   uint64 // from the last pcapng interface statistics block
	haveStats bool
}

// Dropped returns the frames the capture's last pcapng interface
// statistics block, read so far, says were dropped; ok is false without one.
func (r *Reader) Dropped() (n uint64, ok bool) { return r.dropped, r.haveStats }

// NewReader detects the format from the magic number and reads the file
// header. Captures of a link type other than Ethernet are refused.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: %d octets", ErrNotCapture, len(head))
		}
		return nil, err
	}
	magic := [4]byte(head)
	switch {
	case magic == pcapngMagic:
		cr := &Reader{format: PCAPNG}
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{ErrorOnMismatchingLinkType: true,
			StatisticsCallback: func(_ int, st pcapgo.NgInterfaceStatistics) {
				if st.PacketsDropped != pcapgo.NgNoValue64 {
					cr.dropped, cr.haveStats = st.PacketsDropped, true
				}
			}})
		if err != nil {
			return nil, fmt.Errorf("pcapng header: %w", err)
		}
		if lt := ng.LinkType(); lt != layers.LinkTypeEthernet {
			return nil, fmt.Errorf("pcapng link type %v: only Ethernet is supported", lt)
		}
		cr.r = ng
		return cr, nil
	case isPCAP(magic):
		p, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("pcap header: %w", err)
		}
		if lt := p.LinkType(); lt != layers.LinkTypeEthernet {
			return nil, fmt.Errorf("pcap link type %v: only Ethernet is supported", lt)
		}
		return &Reader{format: PCAP, r: p}, nil
	}
	return nil, fmt.Errorf("%w: % x", ErrNotCapture, magic)
}

func isPCAP(magic [4]byte) bool {
	for _, m := range pcapMagics {
		if magic == m {
			return true
		}
	}
	return false
}

// Format is the format of the stream being read.
func (r *Reader) Format() Format { return r.format }

// Next returns the next frame, or io.EOF after the last one. A record cut
// short by the end of the file is io.ErrUnexpectedEOF, not io.EOF.
func (r *Reader) Next() (Packet, error) {
	data, ci, err := r.r.ReadPacketData()
	if errors.Is(err, io.EOF) && ci.CaptureLength > 0 {
		// pcapgo reads a record's header, then its data; data missing
		// altogether comes back as io.EOF, as if the file ended cleanly.
		return Packet{}, fmt.Errorf("%w: the record's %d octets are missing", io.ErrUnexpectedEOF, ci.CaptureLength)
	}
	if err != nil {
		return Packet{}, err
	}
	return Packet{Timestamp: ci.Timestamp, Data: data, Length: max(ci.Length, len(data))}, nil
}

// Read reads every frame of a pcap or pcapng stream.
func Read(r io.Reader) ([]Packet, Format, error) {
	cr, err := NewReader(r)
	if err != nil {
		return nil, 0, err
	}
	var pkts []Packet
	for {
		p, err := cr.Next()
		if errors.Is(err, io.EOF) {
			return pkts, cr.format, nil
		}
		if err != nil {
			return nil, cr.format, fmt.Errorf("record %d: %w", len(pkts)+1, err)
		}
		pkts = append(pkts, p)
	}
}

// ReadFile reads every frame of a pcap or pcapng file.
func ReadFile(name string) ([]Packet, Format, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	pkts, format, err := Read(f)
	if err != nil {
		return nil, format, fmt.Errorf("%s: %w", name, err)
	}
	return pkts, format, nil
}

// Writer writes Ethernet frames as pcap or pcapng.
type Writer struct {
	out    io.Writer // what NewWriter was given
	bw     *bufio.Writer
	pcap   *pcapgo.Writer
	ng     *pcapgo.NgWriter
	format Format
	snap   int
}

// NewWriter writes the file header of an Ethernet capture in format f that
// keeps every frame whole. Call Flush when done.
func NewWriter(w io.Writer, f Format) (*Writer, error) {
	return NewWriterSnap(w, f, MaxSnapLen)
}

// NewWriterSnap is NewWriter keeping at most snap octets of each frame
// (1 to MaxSnapLen; the file header says so). A longer frame is cut, its
// length on the wire recorded, as tcpdump -s does.
func NewWriterSnap(w io.Writer, f Format, snap int) (*Writer, error) {
	if snap < 1 || snap > MaxSnapLen {
		return nil, fmt.Errorf("snap length %d: want 1 to %d octets", snap, MaxSnapLen)
	}
	if f == PCAPNG {
		intf := pcapgo.DefaultNgInterface
		intf.LinkType = layers.LinkTypeEthernet
		intf.SnapLength = uint32(snap)
		opts := pcapgo.DefaultNgWriterOptions
		opts.SectionInfo.Application = "secylab"
		ng, err := pcapgo.NewNgWriterInterface(w, intf, opts)
		if err != nil {
			return nil, err
		}
		return &Writer{out: w, ng: ng, format: f, snap: snap}, nil
	}
	bw := bufio.NewWriter(w)
	p := pcapgo.NewWriter(bw)
	if err := p.WriteFileHeader(uint32(snap), layers.LinkTypeEthernet); err != nil {
		return nil, err
	}
	return &Writer{out: w, bw: bw, pcap: p, format: f, snap: snap}, nil
}

// SnapLen is how much of each frame the writer keeps.
func (w *Writer) SnapLen() int { return w.snap }

// Format is the format written.
func (w *Writer) Format() Format { return w.format }

// recordSize is how many octets Write adds to the file for a frame of n
// captured octets: the pcapng enhanced packet block (28 octets of header,
// the data padded to 4, the trailing length) or the pcap record header.
func (w *Writer) recordSize(n int) int64 {
	n = min(n, w.snap)
	if w.format == PCAPNG {
		return int64(32 + (n+3)&^3)
	}
	return int64(16 + n)
}

// Write appends one frame, cut at the snap length.
func (w *Writer) Write(p Packet) error {
	length := max(p.Length, len(p.Data))
	if len(p.Data) > w.snap {
		p.Data = p.Data[:w.snap]
	}
	ci := gopacket.CaptureInfo{Timestamp: p.Timestamp, CaptureLength: len(p.Data), Length: length}
	if w.ng != nil {
		return w.ng.WritePacket(ci, p.Data)
	}
	return w.pcap.WritePacket(ci, p.Data)
}

// WriteStats writes, in pcapng, an interface statistics block: frames seen
// and those of them dropped (not written), and flushes. In pcap, which has
// no such record, it does nothing.
func (w *Writer) WriteStats(received, dropped uint64) error {
	if w.ng == nil {
		return nil
	}
	if err := w.ng.WriteInterfaceStats(0, pcapgo.NgInterfaceStatistics{LastUpdate: time.Now(), PacketsReceived: received, PacketsDropped: dropped}); err != nil {
		return err
	}
	return w.ng.Flush()
}

// Flush writes out buffered data.
func (w *Writer) Flush() error {
	if w.ng != nil {
		return w.ng.Flush()
	}
	return w.bw.Flush()
}

// Write writes pkts as a capture in format f.
func Write(w io.Writer, f Format, pkts []Packet) error {
	cw, err := NewWriter(w, f)
	if err != nil {
		return err
	}
	for i, p := range pkts {
		if len(p.Data) > MaxSnapLen { // these frames are written whole
			return fmt.Errorf("record %d: frame of %d octets: longer than the snap length %d", i+1, len(p.Data), MaxSnapLen)
		}
		if err := cw.Write(p); err != nil {
			return fmt.Errorf("record %d: %w", i+1, err)
		}
	}
	return cw.Flush()
}

// WriteFile writes pkts to the named file, pcapng if the name ends in
// .pcapng, else pcap. It writes a temporary file in the same directory and
// renames it, so a failure never leaves a partial capture behind. The file
// is 0600: a capture of decrypted frames holds what the encryption protected.
func WriteFile(name string, pkts []Packet) error {
	return secret.WriteFile(name, func(w io.Writer) error {
		if err := Write(w, FormatFor(name), pkts); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
}
