package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/secylab/secylab/ipsec/strongswan"
	"github.com/secylab/secylab/topology"
)

// The life cycle of a lab: Up makes its namespaces and links, writes its
// Spec into the lab's state directory and starts the lab process (this
// program again, which ProcessMain turns into the lab), waits until it
// answers on its control socket and, if asked, until MKA and BGP are up.
// Dial reaches a running lab, Down removes everything a lab made.

// Spec is everything a lab process needs, resolved by the command that
// starts the lab: the topology as validated (renamed, every tunnel with
// its own backend) and the MKA timers. The lab process reads it from the
// lab's state directory (spec.json, 0600) and reloads nothing.
type Spec struct {
	Topology *topology.Topology
	// MKA timers; zero: the standard's (2 s hello, 6 s life).
	HelloTime, LifeTime time.Duration
	// PNThreshold lowers the PN at which MKA rekeys (0: the suite's).
	PNThreshold uint64
	// Control, for a half of a lab spanning hosts, is its remote control
	// endpoint; nil: the unix socket only.
	Control *ControlSpec `json:",omitempty"`
}

// ControlSpec is a half's remote control endpoint: where it listens and
// the control key file (its path only: the lab process reads it).
type ControlSpec struct {
	Listen  string // host:port, the host's underlay address; "": none (the key only)
	KeyFile string
}

// UpOptions say where a lab keeps its state and how long Up waits.
type UpOptions struct {
	StateDir string // "": topology.StateDir's default
	// Wait bounds the wait for MKA to secure every MACsec link, then for
	// every BGP session to be Established; 0: no wait. What is not up in
	// time is a warning in Log, not an error: a lab that rehearses a key
	// mismatch is up and not secured.
	Wait time.Duration
	// Log receives progress lines and warnings; nil: none.
	Log io.Writer
	// Owner, when set, names the command the lab belongs to (e.g. "lab
	// run"): the lab process removes the lab when this process ends, so a
	// killed run leaves nothing behind.
	Owner string
}

// ProcessEnv is set, to the lab's state directory, in the environment of a
// lab process Up starts.
const ProcessEnv = "SECYLAB_LAB_PROCESS"

// UpHoldEnv, for tests, makes Up sleep for its duration right after
// starting the lab process, while it holds the lab's lock.
const UpHoldEnv = "SECYLAB_TEST_UP_HOLD"

const (
	specFile   = "spec.json"
	socketFile = "ctl.sock"
	logFile    = "lab.log"
)

// SocketPath is the control socket of lab.
func SocketPath(stateDir, lab string) string {
	return filepath.Join(topology.LabDir(stateDir, lab), socketFile)
}

// LogPath is the log of lab's lab process.
func LogPath(stateDir, lab string) string {
	return filepath.Join(topology.LabDir(stateDir, lab), logFile)
}

// Up brings a lab up as spec describes and returns a client for it. On
// error, what was made is removed again.
// checkSwanctl has charon check a strongswan node's swanctl.conf: a
// built-in topology's (Node.ConfigData) written 0600 into a private
// directory (0700) that is removed after.
func checkSwanctl(n *topology.Node) error {
	if n.ConfigData == nil {
		return strongswan.Check(n.Config)
	}
	dir, err := os.MkdirTemp("", "secylab-swanctl-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "swanctl.conf")
	if err := os.WriteFile(file, n.ConfigData, 0o600); err != nil {
		return err
	}
	if err := strongswan.Check(file); err != nil {
		return fmt.Errorf("%s: %w", n.Config, err)
	}
	return nil
}

func Up(ctx context.Context, spec Spec, o UpOptions) (c *Client, err error) {
	topo := spec.Topology
	name := topo.Name
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// A node's own daemon configuration is checked before anything is
	// made (the lab process checks it again as it starts the daemon).
	for _, n := range topo.Nodes {
		switch {
		case n.Kind == topology.KindStrongswan:
			if err := checkSwanctl(n); err != nil {
				return nil, fmt.Errorf("%s's own configuration: %w", n.Name, err)
			}
		case n.Config != "":
			if _, err := ownConfig(n); err != nil {
				return nil, err
			}
		}
	}
	made := time.Now()
	if err := topology.Create(ctx, topo, o.StateDir); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "lab %s: namespaces made in %v\n", name, time.Since(made).Round(time.Millisecond))
	defer func() {
		if err != nil {
			fmt.Fprintf(log, "lab %s failed; removing what was made\n", name)
			if derr := Down(o.StateDir, name); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}()
	dir := topology.LabDir(o.StateDir, name)
	if err := writeSpec(dir, spec); err != nil {
		return nil, err
	}
	if o.Owner != "" {
		owner, err := topology.NewProcess(o.Owner, os.Getpid())
		if err != nil {
			return nil, err
		}
		if err := topology.UpdateState(o.StateDir, name, func(st *topology.State) error { st.Owner = &owner; return nil }); err != nil {
			return nil, err
		}
	}
	exited, err := startProcess(self, dir, o.StateDir, name)
	if err != nil {
		return nil, err
	}
	c = &Client{Lab: name, Socket: SocketPath(o.StateDir, name)}
	if err := c.waitAnswer(ctx, exited, 20*time.Second); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "lab %s is up: namespaces %s*, log %s\n", name, topology.NamespaceName(name, ""), LogPath(o.StateDir, name))
	swans := false
	for _, n := range topo.Nodes {
		switch {
		case n.Kind == topology.KindStrongswan:
			backend, _ := SwanBackend()
			fmt.Fprintf(log, "%s (strongswan) runs charon with %s, ESP %s, its log %s; lab exec %s -- swanctl --list-sas reaches it\n",
				n.Name, n.Config, backend, StrongswanConfig(dir, name, n, false).Log, n.Name)
			swans = true
		case n.Config != "":
			fmt.Fprintf(log, "%s (%s) runs %s as written: %s\n", n.Name, n.Kind, n.Config, OwnConfigAdds)
		}
	}
	if swans {
		_, why := SwanBackend()
		fmt.Fprintf(log, "strongswan nodes: %s; ESP: %s\n", strongswan.Adds, why)
	}
	if o.Wait > 0 {
		if err := c.waitUp(ctx, o.Wait, log); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// startProcess starts the lab process of the lab in dir. It holds the
// lab's lock meanwhile: the process records itself in the lab's state
// under that lock before it does anything, so lab down always finds it,
// also if this process dies right after starting it.
func startProcess(self, dir, stateDir, name string) (<-chan error, error) {
	logf, err := os.OpenFile(filepath.Join(dir, logFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	unlock, err := topology.LockLab(stateDir, name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	proc := exec.Command(self, "lab", "serve", dir) // the arguments only show in ps: ProcessMain takes over
	proc.Env = append(os.Environ(), ProcessEnv+"="+dir)
	proc.Stdout, proc.Stderr = logf, logf
	proc.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the command that started it
	if err := proc.Start(); err != nil {
		return nil, fmt.Errorf("start the lab process: %w", err)
	}
	if d, err := time.ParseDuration(os.Getenv(UpHoldEnv)); err == nil {
		time.Sleep(d)
	}
	exited := make(chan error, 1)
	go func() { exited <- proc.Wait() }() // reaps it if it ends before we do
	return exited, nil
}

// waitAnswer waits until the lab process answers on its control socket.
func (c *Client) waitAnswer(ctx context.Context, exited <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := c.Status(); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the lab process stopped (%v):\n%s", err, c.logTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the lab process did not answer within %v:\n%s", timeout, c.logTail())
		}
	}
}

func (c *Client) logTail() string {
	data, _ := os.ReadFile(filepath.Join(filepath.Dir(c.Socket), logFile))
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// waitUp waits for MKA, then BGP, and says how it went in log.
func (c *Client) waitUp(ctx context.Context, wait time.Duration, log io.Writer) error {
	start := time.Now()
	var nr *NotReadyError
	err := c.WaitSecured(ctx, wait)
	switch {
	case errors.As(err, &nr):
		fmt.Fprintf(log, "warning: MKA has not secured %s after %v (see secylab lab macsec)\n", strings.Join(nr.Pending, ", "), wait)
		return nil
	case err != nil:
		return err
	}
	if c.hasMACsec {
		fmt.Fprintf(log, "MKA secured every MACsec link in %v\n", time.Since(start).Round(10*time.Millisecond))
	}
	heldDown, err := c.WaitBGP(ctx, wait-time.Since(start))
	switch {
	case errors.As(err, &nr):
		fmt.Fprintf(log, "warning: BGP sessions not Established after %v: %s (see secylab lab bgp)\n", wait, strings.Join(nr.Pending, ", "))
	case err != nil:
		return err
	case len(heldDown) > 0:
		fmt.Fprintf(log, "warning: BGP sessions held down after exceeding the maximum prefixes: %s (see secylab lab bgp; secylab lab bgp reset NODE LINK)\n", strings.Join(heldDown, ", "))
	case c.hasBGP:
		fmt.Fprintf(log, "BGP: every session Established in %v\n", time.Since(start).Round(10*time.Millisecond))
	}
	return nil
}

// Down stops the lab's process and removes everything the lab made, as
// its state records it; it works after crashes too.
func Down(stateDir, lab string) error { return topology.Destroy(stateDir, lab) }

// Dial returns a client for the running lab.
func Dial(stateDir, lab string) (*Client, error) {
	if err := topology.CheckLabName(lab); err != nil {
		return nil, err
	}
	if _, err := os.Stat(topology.LabDir(stateDir, lab)); err != nil {
		return nil, fmt.Errorf("no lab %q in %s (see secylab lab status): %w", lab, topology.StateDir(stateDir), fs.ErrNotExist)
	}
	return &Client{Lab: lab, Socket: SocketPath(stateDir, lab)}, nil
}

func writeSpec(dir string, spec Spec) error {
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(dir, specFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("lab spec: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("lab spec: %w", err)
	}
	return f.Close()
}

// ReadSpec reads the spec Up wrote for the lab in dir.
func ReadSpec(dir string) (*Spec, error) {
	data, err := os.ReadFile(filepath.Join(dir, specFile))
	if err != nil {
		return nil, fmt.Errorf("lab spec: %w", err)
	}
	var s Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("lab spec %s: %w", filepath.Join(dir, specFile), err)
	}
	if s.Topology == nil {
		return nil, fmt.Errorf("lab spec %s: no topology", filepath.Join(dir, specFile))
	}
	return &s, nil
}

// ProcessMain makes this process the lab process when Up started it (it
// then never returns); otherwise it returns at once. Call it first in
// main, and in TestMain of the tests that start labs, so that any binary
// that starts a lab can also be its lab process.
func ProcessMain() {
	dir := os.Getenv(ProcessEnv)
	if dir == "" {
		return
	}
	os.Unsetenv(ProcessEnv) // not for the daemons it starts
	if err := serveProcess(dir); err != nil {
		fmt.Fprintln(os.Stderr, "secylab lab process:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func serveProcess(dir string) error {
	stateDir, name := filepath.Dir(dir), filepath.Base(dir)
	// Recorded before anything else, under the lab's lock (held by Up
	// while it starts this process): lab down finds this process whatever
	// happens next. If the lab was removed meanwhile, there is nothing to
	// serve.
	if err := topology.RecordProcess(stateDir, name, "lab", os.Getpid()); err != nil {
		return err
	}
	spec, err := ReadSpec(dir)
	if err != nil {
		return err
	}
	st, err := topology.ReadState(stateDir, name)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	var ownerGone atomic.Bool
	if st.Owner != nil {
		go func() {
			for st.Owner.Running() {
				select {
				case <-ctx.Done():
					return
				case <-time.After(250 * time.Millisecond):
				}
			}
			ownerGone.Store(true)
			stop()
		}()
	}
	stopPprof, err := servePprof(logger)
	if err != nil {
		return err
	}
	defer stopPprof()
	topo := spec.Topology
	var key *ControlKey
	var remoteLn net.Listener
	if spec.Control != nil {
		k, err := LoadControlKey(spec.Control.KeyFile)
		if err != nil {
			return err
		}
		key = &k
		if spec.Control.Listen != "" {
			if remoteLn, err = ListenRemote(spec.Control.Listen); err != nil {
				return err
			}
		}
	}
	l, err := StartLab(ctx, LabConfig{
		ControlKey: key,
		Topology:   topo, KeyDir: filepath.Join(dir, "keys"),
		HelloTime: spec.HelloTime, LifeTime: spec.LifeTime, PNThreshold: spec.PNThreshold, Logger: logger,
		AzureDir: AzureDir(stateDir, name), Dir: dir,
		ConfigurePort: func(ctx context.Context, n, p string) error {
			return topology.ConfigureControlledPort(ctx, topo, n, p)
		},
		RecordProcess: func(n string, pid int) error {
			return topology.RecordProcess(stateDir, name, n, pid)
		},
	})
	if err != nil {
		if remoteLn != nil {
			remoteLn.Close()
		}
		return err
	}
	logger.Info("lab running", "lab", name, "pid", os.Getpid())
	remote := make(chan error, 1)
	if remoteLn != nil {
		logger.Info("remote control endpoint", "listen", spec.Control.Listen, "key", key.Fingerprint())
		go func() { remote <- ServeRemote(ctx, l, remoteLn, *key) }()
	} else {
		remote <- nil
	}
	serr := Serve(ctx, l, SocketPath(stateDir, name))
	stop()
	err = errors.Join(serr, <-remote, l.Wait())
	if ownerGone.Load() {
		logger.Info("the command that owned the lab has ended: removing the lab", "lab", name, "owner", st.Owner.Name, "pid", st.Owner.PID)
		err = errors.Join(err, Down(stateDir, name))
	}
	return err
}
