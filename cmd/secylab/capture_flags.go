package main

import (
	"github.com/spf13/cobra"

	"github.com/secylab/secylab/dataplane/capture"
	"github.com/secylab/secylab/scenario"
)

// captureFlags are the bounds of a capture, the same on lab run and lab
// capture: tcpdump's -s, -C and -W.
type captureFlags struct {
	snap, size string
	files      int
	full, none bool
}

func (f *captureFlags) add(cmd *cobra.Command, exercise bool) {
	fs := cmd.Flags()
	fs.StringVarP(&f.snap, "snaplen", "s", "100", "keep this many `OCTETS` of each frame (Ethernet, two VLAN tags, SecTAG with SCI, 64 of secure data); 0 or full: whole frames")
	fs.BoolVar(&f.full, "full", false, "keep whole frames (full payload; needed to decrypt a capture)")
	fs.StringVarP(&f.size, "file-size", "C", "20MB", "start a new capture file past this `SIZE` (kB, MB, GB, KiB…; 0: one file, no cap)")
	fs.IntVarP(&f.files, "files", "W", capture.DefaultFiles, "keep this many files in the ring, deleting the oldest")
	if exercise {
		fs.BoolVar(&f.none, "no-capture", false, "write no capture files (the cleartext checks still count every frame)")
	}
}

// bounds reads the flags over the defaults.
func (f *captureFlags) bounds() (capture.Bounds, error) {
	b := capture.DefaultBounds()
	var err error
	if b.SnapLen, err = capture.ParseSnapLen(f.snap); err != nil {
		return b, usagef("--snaplen %v", err)
	}
	if f.full {
		b.SnapLen = capture.MaxSnapLen
	}
	if b.FileSize, err = capture.ParseSize(f.size); err != nil {
		return b, usagef("--file-size %v", err)
	}
	b.Files = f.files
	if err := b.Check(); err != nil {
		return b, usagef("capture: %v", err)
	}
	return b, nil
}

// override is what lab run changes of a scenario's capture bounds: only
// the flags given.
func (f *captureFlags) override(cmd *cobra.Command) (scenario.CaptureOverride, error) {
	o := scenario.CaptureOverride{None: f.none}
	b, err := f.bounds()
	if err != nil {
		return o, err
	}
	fs := cmd.Flags()
	if fs.Changed("snaplen") || f.full {
		o.SnapLen = &b.SnapLen
	}
	if fs.Changed("file-size") {
		o.FileSize = &b.FileSize
	}
	if fs.Changed("files") {
		o.Files = &b.Files
	}
	return o, nil
}
