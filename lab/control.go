package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

// LabStatus is a running lab's state.
type LabStatus struct {
	Name     string         `json:"name"`
	PID      int            `json:"pid"`
	Started  time.Time      `json:"started"`
	Warnings []string       `json:"warnings,omitempty"`
	Ports    []PortStatus   `json:"ports,omitempty"`
	Tunnels  []TunnelStatus `json:"tunnels,omitempty"`
	BGP      []BGPStatus    `json:"bgp,omitempty"`
	// Strongswan are the strongswan nodes' charons.
	Strongswan []StrongswanStatus `json:"strongswan,omitempty"`
	Azure      *AzureStatus       `json:"azure,omitempty"`
	// Host and Nodes, on a half of a lab spanning hosts: its host and the
	// nodes it runs.
	Host  string   `json:"host,omitempty"`
	Nodes []string `json:"nodes,omitempty"`
}

// Serve answers control requests (operations, see Op) on the unix socket
// path until ctx ends. It never removes a socket it did not make: a path in
// use is an error, and on the way out it removes its socket only if the
// path still is that socket (a lab down and a new lab of the same name may
// have replaced it).
func Serve(ctx context.Context, l *Lab, path string) error {
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // Go would unlink the path, whoever's it is by then
	mine, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return err
	}
	// While the listener is open its inode cannot be reused, so comparing
	// it with what is at path before closing tells whether path is still
	// ours (a new lab of the same name may have replaced it).
	stop := sync.OnceFunc(func() { removeIfMine(path, mine); ln.Close() })
	defer stop()
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	go func() { <-ctx.Done(); stop() }()
	return accept(ctx, ln, func(c net.Conn) { l.serveConn(ctx, c) })
}

// accept serves each connection ln accepts until ctx ends (nil) or ln
// fails.
func accept(ctx context.Context, ln net.Listener, serve func(net.Conn)) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go serve(c)
	}
}

// removeIfMine removes path if it is still the file mine describes.
func removeIfMine(path string, mine os.FileInfo) {
	if cur, err := os.Lstat(path); err == nil && os.SameFile(cur, mine) {
		os.Remove(path)
	}
}
