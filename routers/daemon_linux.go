package routers

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/secylab/secylab/bgp"
	"github.com/secylab/secylab/internal/pgroup"
)

// Daemon is a routing daemon (BIRD or FRR) running in a namespace, with
// its own runtime directory so several coexist with each other and with
// any system instance.
type Daemon struct {
	Dir   string // runtime directory: config, sockets, pid files, logs
	NS    string
	Kind  string // "bird" or "frr"
	procs []*exec.Cmd
	done  []chan struct{} // closed when procs[i] has exited (and been reaped)
	// held is FRR's route-map deny entries in place, by neighbour:
	// [0] what it accepts, [1] what it sends.
	held map[string][2]bool
}

// StartBIRD runs `bird -f` in namespace ns with config conf, its control
// socket at dir/bird.ctl.
func StartBIRD(ns, dir, conf string) (*Daemon, error) {
	d := &Daemon{Dir: dir, NS: ns, Kind: "bird"}
	cf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	if err := d.spawn("bird", "-f", "-c", cf, "-s", d.birdSocket(), "-P", filepath.Join(dir, "bird.pid")); err != nil {
		return nil, err
	}
	if err := waitFile(d.birdSocket(), 5*time.Second); err != nil {
		d.Stop()
		return nil, fmt.Errorf("routers: bird in %s: %w (log %s)", ns, err, d.logTail())
	}
	return d, nil
}

// CheckConfig has the daemon's own parser check a configuration file
// (bird -p; vtysh --dryrun) and returns its message when it rejects it.
func CheckConfig(kind, file string) error {
	cmd := exec.Command("vtysh", "--dryrun", "-f", file)
	name := "FRR"
	if kind == "bird" {
		cmd, name = exec.Command("bird", "-p", "-c", file), "BIRD"
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s rejects %s: %s", name, file, strings.TrimSpace(string(out)))
	}
	return nil
}

func (d *Daemon) birdSocket() string { return filepath.Join(d.Dir, "bird.ctl") }

// frrDaemons are started in this order: zebra first, the others connect to it.
var frrDaemons = []string{"zebra", "bfdd", "bgpd"}

// StartFRR runs zebra, bfdd and bgpd in namespace ns, each in the
// foreground with its vty socket, zebra socket and pid file in dir, then
// loads the integrated configuration conf through vtysh. watchfrr is not
// used: the caller supervises (and Stop ends) the daemons.
func StartFRR(ns, dir, conf string) (*Daemon, error) {
	d := &Daemon{Dir: dir, NS: ns, Kind: "frr"}
	empty := filepath.Join(dir, "empty.conf")
	cf := filepath.Join(dir, "frr.conf")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	// The daemons drop to the frr user (running as root needs root in
	// the frrvty group), so that user must own the runtime directory and
	// be able to reach it.
	if err := chownFRR(dir, empty, cf); err != nil {
		return nil, err
	}
	zsock := filepath.Join(dir, "zserv.api")
	for _, name := range frrDaemons {
		args := []string{"/usr/lib/frr/" + name, "-f", empty, "-i", filepath.Join(dir, name+".pid"),
			"--vty_socket", dir, "-P", "0", "-z", zsock,
			"--log", "file:" + filepath.Join(dir, name+".log")}
		if name == "bfdd" {
			args = append(args, "--bfdctl", filepath.Join(dir, "bfdd.sock"))
		}
		if err := d.spawn(args...); err != nil {
			d.Stop()
			return nil, err
		}
		if err := waitFile(filepath.Join(dir, name+".vty"), 5*time.Second); err != nil {
			d.Stop()
			return nil, fmt.Errorf("routers: frr %s in %s: %w (log %s)", name, ns, err, d.logTail())
		}
	}
	if out, err := exec.Command("vtysh", "--vty_socket", dir, "-f", cf).CombinedOutput(); err != nil {
		d.Stop()
		return nil, fmt.Errorf("routers: frr config in %s: %w\n%s", ns, err, out)
	}
	return d, nil
}

func (d *Daemon) spawn(args ...string) error {
	log, err := os.OpenFile(filepath.Join(d.Dir, "daemons.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", d.NS}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("routers: start %s in %s: %w", args[0], d.NS, err)
	}
	// Reap at once: a daemon that exits (or that a lab down stops) must not
	// linger as a zombie of ours.
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	d.procs = append(d.procs, cmd)
	d.done = append(d.done, done)
	return nil
}

// PIDs returns the daemons' process IDs (each leads its own process
// group), for a supervisor that must be able to stop them after a crash.
func (d *Daemon) PIDs() []int {
	pids := make([]int, len(d.procs))
	for i, p := range d.procs {
		pids[i] = p.Process.Pid
	}
	return pids
}

// Stop terminates the daemons (SIGTERM, then SIGKILL after 3 s).
func (d *Daemon) Stop() error {
	for i := len(d.procs) - 1; i >= 0; i-- {
		p := d.procs[i]
		syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
		pgroup.KillAfter(p.Process.Pid, d.done[i], 3*time.Second)
	}
	d.procs, d.done = nil, nil
	return nil
}

// Show runs a show command: `birdc -s SOCK ARGS` for BIRD, `vtysh -c
// 'ARGS'` for FRR.
func (d *Daemon) Show(args string) (string, error) {
	var cmd *exec.Cmd
	if d.Kind == "bird" {
		cmd = exec.Command("birdc", append([]string{"-s", d.birdSocket()}, strings.Fields(args)...)...)
	} else {
		cmd = exec.Command("vtysh", "--vty_socket", d.Dir, "-c", args)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Neighbors asks the daemon for its BGP sessions (ParseBIRDProtocols,
// ParseFRRNeighbors).
func (d *Daemon) Neighbors() ([]bgp.NeighborStatus, error) {
	cmd := "show bgp neighbors json"
	if d.Kind == "bird" {
		cmd = "show protocols all"
	}
	out, err := d.Show(cmd)
	if err != nil {
		return nil, fmt.Errorf("routers: %s %q: %w: %s", d.Kind, cmd, err, strings.TrimSpace(out))
	}
	if d.Kind == "bird" {
		return withBFD(ParseBIRDProtocols(out), d), nil
	}
	return ParseFRRNeighbors([]byte(out))
}

// withBFD gives BIRD's neighbours their BFD sessions, which BIRD shows
// apart from its BGP protocols; a BIRD without a BFD protocol has none.
func withBFD(nbrs []bgp.NeighborStatus, d *Daemon) []bgp.NeighborStatus {
	out, err := d.Show("show bfd sessions")
	if err != nil {
		return nbrs
	}
	for _, s := range ParseBIRDBFDSessions(out) {
		for i := range nbrs {
			if nbrs[i].Address == s.Peer {
				nbrs[i].BFD = &s
			}
		}
	}
	return nbrs
}

func (d *Daemon) logTail() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "daemons.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

func waitFile(path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New(path + " did not appear")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func chownFRR(paths ...string) error {
	u, err := user.Lookup("frr")
	if err != nil {
		return fmt.Errorf("routers: frr user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return os.Chmod(paths[0], 0o755)
}

// SetPolicy applies c's policy towards neighbour name (its local
// preference on import, its prepend on export) to the running daemon the
// way its operator changes it, the sessions staying up: BIRD gets the
// regenerated configuration and `birdc configure` (changed filters: BIRD
// asks the neighbour for a route refresh and announces again); FRR gets the
// neighbour's route-map entries changed through vtysh and a soft clear of
// the session both ways.
func (d *Daemon) SetPolicy(c DaemonConfig, name string) error {
	p, err := c.prepare()
	if err != nil {
		return err
	}
	i := slices.IndexFunc(p.Neighbors, func(n DaemonNeighbor) bool { return n.Name == name })
	if i < 0 {
		return fmt.Errorf("routers: %s has no neighbour %s", d.Kind, name)
	}
	n := p.Neighbors[i]
	if d.Kind == "bird" {
		conf, err := BIRDConfig(c)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d.Dir, "bird.conf"), []byte(conf), 0o600); err != nil {
			return err
		}
		out, err := d.Show("configure")
		if err != nil || !strings.Contains(out, "Reconfigured") {
			return fmt.Errorf("routers: birdc configure in %s: %v: %s", d.NS, err, strings.TrimSpace(out))
		}
		return nil
	}
	if n.Internal {
		return d.hold(n)
	}
	cmds := []string{"configure terminal", "route-map FROM-" + n.Name + " permit 10"}
	if n.LocalPref != 0 {
		cmds = append(cmds, fmt.Sprintf("set local-preference %d", n.LocalPref))
	} else {
		cmds = append(cmds, "no set local-preference")
	}
	prepend := "no set as-path prepend"
	if n.Prepend > 0 {
		prepend = "set as-path prepend" + strings.Repeat(fmt.Sprintf(" %d", p.ASN), n.Prepend)
	}
	if len(p.Networks4()) > 0 {
		cmds = append(cmds, "route-map TO-"+n.Name+" permit 10", prepend)
	}
	if len(p.Networks6()) > 0 {
		cmds = append(cmds, "route-map TO-"+n.Name+" permit 20", prepend)
	}
	return d.vtysh(append(cmds, "end", "clear bgp ipv4 unicast "+n.Peer.String()+" soft", "clear bgp ipv6 unicast "+n.Peer.String()+" soft"))
}

// hold puts in place (or takes away) FRR's deny entries that stop what
// bgpd accepts from and sends to the sibling n (its HoldIn, HoldOut),
// then refreshes the session in the direction that changed.
func (d *Daemon) hold(n DaemonNeighbor) error {
	was := d.held[n.Name]
	cmds := []string{"configure terminal"}
	var soft []string
	entry := func(on, before bool, maps ...string) {
		for _, m := range maps {
			switch {
			case on && !before:
				cmds = append(cmds, "route-map "+m+" deny 5", "exit")
			case !on && before:
				cmds = append(cmds, "no route-map "+m+" deny 5")
			}
		}
	}
	entry(n.HoldIn, was[0], "FROM-"+n.Name)
	entry(n.HoldOut, was[1], "TO-"+n.Name, "TO6-"+n.Name)
	if n.HoldIn != was[0] {
		soft = append(soft, " soft in")
	}
	if n.HoldOut != was[1] {
		soft = append(soft, " soft out")
	}
	if len(soft) == 0 {
		return nil
	}
	cmds = append(cmds, "end")
	for _, dir := range soft {
		cmds = append(cmds, "clear bgp ipv4 unicast "+n.Peer.String()+dir, "clear bgp ipv6 unicast "+n.Peer.String()+dir)
	}
	if err := d.vtysh(cmds); err != nil {
		return err
	}
	if d.held == nil {
		d.held = map[string][2]bool{}
	}
	d.held[n.Name] = [2]bool{n.HoldIn, n.HoldOut}
	return nil
}

// vtysh runs commands in one vtysh session; FRR's "% " marks an error.
func (d *Daemon) vtysh(cmds []string) error {
	args := []string{"--vty_socket", d.Dir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.Command("vtysh", args...).CombinedOutput()
	if err != nil || strings.Contains(string(out), "% ") {
		return fmt.Errorf("routers: vtysh in %s: %v: %s", d.NS, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// BGPPath is one path of FRR's BGP table.
type BGPPath struct {
	Prefix    netip.Prefix
	Best      bool
	Peer      netip.Addr // who sent it; invalid for our own
	NextHop   netip.Addr
	LocalPref uint32 // 0: not shown
}

// BGPTable reads FRR's BGP table of both families (show bgp … json).
func (d *Daemon) BGPTable() ([]BGPPath, error) {
	if d.Kind != "frr" {
		return nil, fmt.Errorf("routers: BGPTable reads FRR's table, not %s's", d.Kind)
	}
	var out []BGPPath
	for _, af := range []string{"ipv4", "ipv6"} {
		b, err := exec.Command("vtysh", "--vty_socket", d.Dir, "-c", "show bgp "+af+" unicast json").Output()
		if err != nil {
			return nil, fmt.Errorf("routers: vtysh in %s: show bgp %s unicast json: %w", d.NS, af, err)
		}
		var t struct {
			Routes map[string][]struct {
				Best     bool   `json:"bestpath"`
				PeerID   string `json:"peerId"`
				LocPrf   uint32 `json:"locPrf"`
				NextHops []struct {
					IP string `json:"ip"`
				} `json:"nexthops"`
			} `json:"routes"`
		}
		if err := json.Unmarshal(b, &t); err != nil {
			return nil, fmt.Errorf("routers: show bgp %s unicast json in %s: %w", af, d.NS, err)
		}
		for pfx, paths := range t.Routes {
			p, err := netip.ParsePrefix(pfx)
			if err != nil {
				continue
			}
			for _, x := range paths {
				bp := BGPPath{Prefix: p, Best: x.Best, LocalPref: x.LocPrf}
				bp.Peer, _ = netip.ParseAddr(x.PeerID)
				if len(x.NextHops) > 0 {
					bp.NextHop, _ = netip.ParseAddr(x.NextHops[0].IP)
				}
				out = append(out, bp)
			}
		}
	}
	return out, nil
}

// ExecArgv wraps argv, a command to run in a daemon's namespace with `ip
// netns exec` (which gives it a mount namespace of its own), so that the
// daemon's CLI finds the daemon at its default path: dir, the runtime
// directory, is bind-mounted on /run/frr (vtysh) or, on a tmpfs /run,
// /run/bird (birdc). Nothing changes outside that mount namespace.
func ExecArgv(kind, dir string, argv []string) []string {
	script := `mount --bind "$1" /run/frr && shift && exec "$@"`
	if kind == "bird" {
		script = `mount -t tmpfs -o mode=0755 secylab /run && mkdir /run/bird && mount --bind "$1" /run/bird && shift && exec "$@"`
	}
	return append([]string{"sh", "-c", script, "sh", dir}, argv...)
}
