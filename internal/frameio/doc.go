// Package frameio is the batch frame I/O every data plane of the lab shares:
// TAP and TUN devices (with TCP and UDP segmentation offload both ways), AF_PACKET
// sockets, UDP sockets (sendmmsg with UDP_SEGMENT, recvmmsg with UDP_GRO),
// and an in-memory Pipe for tests.
//
// The contract is wireguard-go's (tun.Device, conn.Bind): the caller owns
// the buffers and leaves headroom in front of each frame; Read fills up to
// len(bufs) of them, frame i at bufs[i][offset:offset+sizes[i]], waiting
// only for the first; Write sends bufs[i][offset:] in order; BatchSize says
// how many buffers a call can use well; after Close every call returns an
// error that errors.Is net.ErrClosed. Nothing allocates per frame.
//
// A device is read by one goroutine and written by one goroutine at a time.
// The Linux devices are opened in the calling thread's network namespace
// and park in the Go netpoller, so many of them share a process.
package frameio
