package dataplane

// Device moves Ethernet frames in batches.
type Device interface {
	// ReadBatch waits until at least one frame is available and then reads
	// up to len(bufs) of them without waiting: frame i is stored at
	// bufs[i][offset:offset+sizes[i]].
	ReadBatch(bufs [][]byte, sizes []int, offset int) (int, error)
	// WriteBatch sends the frames in order and returns how many were sent.
	WriteBatch(frames [][]byte) (int, error)
	// Name names the device for messages.
	Name() string
	Close() error
}

// Sizes of the forwarding path.
const (
	// BatchSize is the most frames one ReadBatch or WriteBatch moves.
	BatchSize = 64
	// MaxFrame is the largest frame a port carries: a 9000-octet jumbo
	// payload, Ethernet and VLAN headers and the MACsec overhead.
	MaxFrame = 9000 + 18 + 32
)
