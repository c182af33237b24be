package kmacsec

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/macsec/mka"
)

// KaYConfig is a KaY on a physical interface keying a kernel macsec
// device.
type KaYConfig struct {
	Device            DeviceConfig
	PSK               mka.PSK
	KeyServerPriority uint8
	HelloTime         time.Duration // 0: 2 s
	LifeTime          time.Duration // 0: 6 s
	Logger            *slog.Logger  // events, never keys
	// Ready, when not nil, is called once the device exists (before any
	// SA): the caller can move addresses to it.
	Ready func(*SecY)
	// Status, when not nil, is called whenever MKA's state changes.
	Status func(mka.Status)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// RunKaY creates the macsec device, runs an MKA participant on the
// parent interface (MKPDUs on an AF_PACKET socket of EtherType 0x888E,
// joined to the PAE group address) that installs its SAs in the device,
// and deletes the device when ctx ends.
func RunKaY(ctx context.Context, cfg KaYConfig) error {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mac, err := hardwareAddr(cfg.Device.Parent)
	if err != nil {
		return fmt.Errorf("kmacsec: %s: %w", cfg.Device.Parent, err)
	}
	ifi, err := net.InterfaceByName(cfg.Device.Parent)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(mka.EtherTypeEAPOL)))
	if err != nil {
		return fmt.Errorf("kmacsec: AF_PACKET on %s: %w", cfg.Device.Parent, err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(mka.EtherTypeEAPOL), Ifindex: ifi.Index}); err != nil {
		return fmt.Errorf("kmacsec: bind on %s: %w", cfg.Device.Parent, err)
	}
	mr := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_MULTICAST, Alen: 6}
	copy(mr.Address[:], mka.PAEGroupAddress[:])
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mr); err != nil {
		return fmt.Errorf("kmacsec: joining the PAE group address on %s: %w", cfg.Device.Parent, err)
	}
	// A receive timeout lets the loop notice ctx and run MKA's timers.
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000}); err != nil {
		return err
	}

	y, err := Create(cfg.Device)
	if err != nil {
		return err
	}
	defer y.Delete()
	if cfg.Ready != nil {
		cfg.Ready(y)
	}
	dst := &unix.SockaddrLinklayer{Protocol: htons(mka.EtherTypeEAPOL), Ifindex: ifi.Index, Halen: 6}
	copy(dst.Addr[:], mka.PAEGroupAddress[:])
	var sendMu sync.Mutex
	kay, err := mka.NewParticipant(mka.Config{
		PSK: cfg.PSK, Suite: cfg.Device.Suite, SCI: y.SCI(), KeyServerPriority: cfg.KeyServerPriority,
		HelloTime: cfg.HelloTime, LifeTime: cfg.LifeTime, Rand: rand.Reader, SecY: y, Logger: log,
		Send: func(frame []byte) {
			sendMu.Lock()
			defer sendMu.Unlock()
			if err := unix.Sendto(fd, frame, 0, dst); err != nil {
				log.Warn("MKPDU not sent", "err", err)
			}
		},
	})
	if err != nil {
		return err
	}
	defer kay.Stop()
	log.Info("KaY started", "device", cfg.Device.Name, "parent", cfg.Device.Parent, "mac", mac, "sci", y.SCI(), "suite", cfg.Device.Suite, "ckn", cfg.PSK.CKN, "cak", cfg.PSK.CAK.Fingerprint())
	buf := make([]byte, 2048)
	var last mka.Status
	for ctx.Err() == nil {
		kay.Tick(time.Now())
		n, _, err := unix.Recvfrom(fd, buf, 0)
		switch {
		case err == nil:
			kay.Receive(time.Now(), buf[:n])
		case err == unix.EAGAIN || err == unix.EINTR:
		default:
			return fmt.Errorf("kmacsec: receiving on %s: %w", cfg.Device.Parent, err)
		}
		if cfg.Status != nil {
			if st := kay.Status(); st.Secured != last.Secured || len(st.Peers) != len(last.Peers) {
				last = st
				cfg.Status(st)
			}
		}
	}
	return nil
}
