package gateway

import (
	"fmt"

	"github.com/secylab/secylab/internal/frameio"
	"github.com/secylab/secylab/internal/netnsx"
)

// NewUserspace opens the TUN device and the socket in the namespace. The
// TUN is left down: the caller (Gateway) sets its MTU, brings it up and
// routes the remote prefixes to it.
func NewUserspace(cfg UserspaceConfig) (*Userspace, error) {
	return newUserspace(cfg, openDevices)
}

// openDevices opens the TUN and the socket in the namespace.
func openDevices(cfg *UserspaceConfig) (frameio.Device, espConn, error) {
	var tun *frameio.TUN
	var udp *frameio.UDP
	open := func() error {
		var err error
		if tun, err = frameio.OpenTUN(cfg.TUNName, true); err != nil {
			return err
		}
		if udp, err = frameio.OpenUDP(cfg.Local, cfg.Remote); err != nil {
			tun.Close()
			return err
		}
		return nil
	}
	var err error
	if cfg.Namespace == "" {
		err = open()
	} else {
		err = netnsx.Do(cfg.Namespace, open)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("userspace ESP in %q: %w", cfg.Namespace, err)
	}
	return tun, udp, nil
}
