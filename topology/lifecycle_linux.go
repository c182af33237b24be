package topology

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/internal/netnsx"
)

// MTUs of the veth ends. A wire carries SecTAG (16 bytes with SCI) and ICV
// (16) on top of a 1500-byte frame, plus MKA; 1600 leaves room for a VLAN
// tag too. Plain ports keep Ethernet's 1500.
const (
	WireMTU  = 1600
	PlainMTU = 1500
)

// ErrNeedRoot is returned by the life-cycle functions without the
// privileges to manage namespaces.
var ErrNeedRoot = errors.New("secylab lab needs root (CAP_NET_ADMIN) to create namespaces")

// ExistsError says that a lab of that name is already up (or left over).
type ExistsError struct{ Lab, Why string }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("lab %q exists: run secylab lab down %s (found %s)", e.Lab, e.Lab, e.Why)
}

// Unwrap makes errors.Is(err, fs.ErrExist) true.
func (e *ExistsError) Unwrap() error { return fs.ErrExist }

// CollisionError says that a namespace a lab needs exists already and is
// not the lab's own: Owner is the lab whose state records it, or "" when
// no lab in the state directory does.
type CollisionError struct{ Lab, Namespace, Owner, StateDir string }

func (e *CollisionError) Error() string {
	if e.Owner != "" {
		return fmt.Sprintf("lab %s: namespace %s exists and belongs to lab %s (remove that lab with secylab lab down %s, or choose another --name)", e.Lab, e.Namespace, e.Owner, e.Owner)
	}
	return fmt.Sprintf("lab %s: namespace %s exists and no lab in %s made it (a lab of another state directory, or made by hand): it is left alone; remove it with ip netns del %s once nothing uses it, or choose another --name", e.Lab, e.Namespace, e.StateDir, e.Namespace)
}

// Unwrap makes errors.Is(err, fs.ErrExist) true.
func (e *CollisionError) Unwrap() error { return fs.ErrExist }

// collision names who holds namespace ns that lab wanted.
func collision(stateDir, lab, ns string) error {
	e := &CollisionError{Lab: lab, Namespace: ns, StateDir: StateDir(stateDir)}
	names, _ := labNames(stateDir)
	for _, other := range names {
		st, err := ReadState(stateDir, other)
		if err != nil || other == lab {
			continue
		}
		for _, o := range st.Namespaces {
			if o.Name == ns {
				e.Owner = other
			}
		}
	}
	return e
}

// failpoint, when set by a test, is called before each step of Create and
// fails it with its error.
var failpoint func(step string) error

func step(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if failpoint != nil {
		return failpoint(name)
	}
	return nil
}

// needRoot checks for CAP_NET_ADMIN (devices, addresses, routes) and
// CAP_SYS_ADMIN (unshare, bind mounts) in the effective set.
func needRoot() error {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return ErrNeedRoot
	}
	defer f.Close()
	return checkCaps(f)
}

func checkCaps(status io.Reader) error {
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			want := uint64(1)<<unix.CAP_NET_ADMIN | uint64(1)<<unix.CAP_SYS_ADMIN
			if err == nil && caps&want == want {
				return nil
			}
		}
	}
	return ErrNeedRoot
}

// Create brings up topo as a lab: one namespace per node (loopback up,
// forwarding on routers), one veth pair per link with its ends directly in
// their nodes' namespaces, and addresses and routes on plain ports.
// Controlled ports are left for the dataplane, which calls
// ConfigureControlledPort once it has made their TAPs. Every object is
// recorded in the state file under stateDir (DefaultStateDir if empty)
// before it is made; if Create fails, it removes what it made.
func Create(ctx context.Context, topo *Topology, stateDir string) (err error) {
	if err := needRoot(); err != nil {
		return err
	}
	if err := CheckLabName(topo.Name); err != nil {
		return err
	}
	dir := LabDir(stateDir, topo.Name)
	if err := os.MkdirAll(StateDir(stateDir), 0o755); err != nil {
		return fmt.Errorf("lab %s: %w", topo.Name, err)
	}
	// Mkdir is the atomic claim on the name: two Creates cannot both win.
	if err := os.Mkdir(dir, 0o700); errors.Is(err, fs.ErrExist) {
		return &ExistsError{topo.Name, "state in " + dir}
	} else if err != nil {
		return fmt.Errorf("lab %s: %w", topo.Name, err)
	}
	unlock, err := lockLab(dir)
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	defer unlock()
	for _, n := range topo.Nodes {
		if n.External() {
			continue // it has none (in a multi-host lab its host's half has)
		}
		if ns := NamespaceName(topo.Name, n.Name); namespaceExists(ns) {
			os.RemoveAll(dir)
			return collision(stateDir, topo.Name, ns)
		}
	}

	st := &State{Lab: topo.Name, Source: topo.Source, Created: time.Now().UTC()}
	defer func() {
		if err == nil {
			return
		}
		if cerr := teardown(st); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup after failed create (state kept, run secylab lab down %s): %w", topo.Name, cerr))
			_ = st.write(stateDir)
			return
		}
		os.RemoveAll(dir)
	}()
	if err := st.write(stateDir); err != nil {
		return err
	}
	for _, n := range topo.Nodes {
		if n.External() {
			continue
		}
		if err := createNode(ctx, st, stateDir, topo, n); err != nil {
			return err
		}
	}
	for _, l := range topo.Links {
		if err := createLink(ctx, st, stateDir, topo, l); err != nil {
			return err
		}
	}
	for _, n := range topo.Nodes {
		for _, p := range n.Ports {
			if p.Controlled || n.External() {
				continue
			}
			if err := step(ctx, "routes "+n.Name+":"+p.Name); err != nil {
				return err
			}
			if err := installRoutes(topo, n, p); err != nil {
				return err
			}
		}
	}
	st.Complete = true
	return st.write(stateDir)
}

func createNode(ctx context.Context, st *State, stateDir string, topo *Topology, n *Node) error {
	ns := NamespaceName(topo.Name, n.Name)
	if err := step(ctx, "namespace "+ns); err != nil {
		return err
	}
	st.Namespaces = append(st.Namespaces, StateObject{Name: ns})
	if err := st.write(stateDir); err != nil {
		return err
	}
	if err := createNamespace(ns); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Made by someone else between the check and now: it was never
			// ours, so it leaves the intent log and no cleanup touches it.
			st.Namespaces = st.Namespaces[:len(st.Namespaces)-1]
			return errors.Join(collision(stateDir, topo.Name, ns), st.write(stateDir))
		}
		return err
	}
	st.Namespaces[len(st.Namespaces)-1].Done = true
	if err := st.write(stateDir); err != nil {
		return err
	}
	return netnsx.Do(ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			return fmt.Errorf("%s: loopback up: %w", ns, err)
		}
		if n.Forwards() {
			if err := sysctl("net/ipv4/ip_forward", "1"); err != nil {
				return fmt.Errorf("%s: %w", ns, err)
			}
			// IPv6 forwarding fails where IPv6 is off; IPv4 is what the
			// labs route.
			_ = sysctl("net/ipv6/conf/all/forwarding", "1")
		}
		return nil
	})
}

func createLink(ctx context.Context, st *State, stateDir string, topo *Topology, l *Link) error {
	if err := step(ctx, "link "+l.Name); err != nil {
		return err
	}
	if l.VXLAN != nil {
		if err := createVXLAN(st, stateDir, l); err != nil {
			return err
		}
	}
	if ext := externalEnd(topo, l); ext != nil {
		// The lab's end runs on the host interface: nothing to make.
		return prepareExternal(st, stateDir, l, ext)
	}
	var ends [2]Interface
	var ports [2]*Port
	for i, e := range l.Ends {
		ports[i] = topo.Node(e.Node).Port(e.Port)
		ends[i] = Interface{Namespace: NamespaceName(topo.Name, e.Node), Name: ports[i].Wire}
	}
	st.Links = append(st.Links, StateLink{Name: l.Name, Ends: ends})
	if err := st.write(stateDir); err != nil {
		return err
	}
	// The pair is made inside the first namespace with its peer directly in
	// the second, under their final names: it never exists in the root
	// namespace, so no crash can strand it there, and it goes with the
	// namespaces.
	h, ns0, err := handleAt(ends[0].Namespace)
	if err != nil {
		return err
	}
	defer ns0.Close()
	defer h.Close()
	ns1, err := openNamespace(ends[1].Namespace)
	if err != nil {
		return err
	}
	defer ns1.Close()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: ends[0].Name, MTU: mtuOf(ports[0])},
		PeerName:      ends[1].Name,
		PeerMTU:       uint32(mtuOf(ports[1])),
		PeerNamespace: netlink.NsFd(ns1),
	}
	if err := h.LinkAdd(veth); err != nil {
		return fmt.Errorf("link %s: veth %s/%s ⇄ %s/%s: %w", l.Name, ends[0].Namespace, ends[0].Name, ends[1].Namespace, ends[1].Name, err)
	}
	st.Links[len(st.Links)-1].Done = true
	if err := st.write(stateDir); err != nil {
		return err
	}
	for i, p := range ports {
		if err := configureWire(ends[i], p); err != nil {
			return fmt.Errorf("link %s: %w", l.Name, err)
		}
	}
	return nil
}

func mtuOf(p *Port) int {
	if p.Controlled {
		return WireMTU
	}
	return PlainMTU
}

// configureWire brings a veth end up. A plain port gets its addresses; the
// wire of a controlled port gets none and no IPv6, so that the kernel never
// sends anything on it by itself: only the dataplane's frames travel there.
// Nor does its IPv4 take part: without an address the kernel would still
// answer ARP on it for the node's addresses (which live on the TAP) and
// take IP in on it. With MACsec off the far end's kernel then learnt the
// wire's MAC for this node, and its frames went past this port's forwarder
// into the stack on the wire (the TAP dropped its copies as not its own):
// the receiving port's captures and counters saw frames the node never
// took from them.
func configureWire(ifc Interface, p *Port) error {
	if p.Controlled {
		if err := netnsx.Do(ifc.Namespace, func() error {
			for _, kv := range [][2]string{
				{"net/ipv4/conf/" + ifc.Name + "/arp_ignore", "8"}, // no ARP reply for any address
				{"net/ipv4/conf/" + ifc.Name + "/rp_filter", "1"},  // IP in on it: no route back that way, dropped
			} {
				if err := sysctl(kv[0], kv[1]); err != nil {
					return err
				}
			}
			return sysctl("net/ipv6/conf/"+ifc.Name+"/disable_ipv6", "1")
		}); err != nil && !errors.Is(err, fs.ErrNotExist) { // no IPv6 in the kernel: nothing to silence
			return fmt.Errorf("%s/%s: %w", ifc.Namespace, ifc.Name, err)
		}
	}
	h, ns, err := handleAt(ifc.Namespace)
	if err != nil {
		return err
	}
	defer ns.Close()
	defer h.Close()
	link, err := h.LinkByName(ifc.Name)
	if err != nil {
		return fmt.Errorf("%s/%s: %w", ifc.Namespace, ifc.Name, err)
	}
	if !p.Controlled {
		if err := addAddresses(h, link, p.Addresses); err != nil {
			return fmt.Errorf("%s/%s: %w", ifc.Namespace, ifc.Name, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s/%s: up: %w", ifc.Namespace, ifc.Name, err)
	}
	return nil
}

func addAddresses(h *netlink.Handle, link netlink.Link, addrs []netip.Prefix) error {
	for _, a := range addrs {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())}}
		if a.Addr().Is6() {
			addr.Flags = unix.IFA_F_NODAD // usable at once; addresses are unique by validation
		}
		if err := h.AddrReplace(link, addr); err != nil {
			return fmt.Errorf("address %s: %w", a, err)
		}
	}
	return nil
}

// installRoutes installs the routes of n that leave through port p; p's
// interface must exist, be up and carry its addresses.
func installRoutes(topo *Topology, n *Node, p *Port) error {
	routes := n.RoutesVia(p.Name)
	if len(routes) == 0 {
		return nil
	}
	links := map[string]netlink.Link{}
	ns := NamespaceName(topo.Name, n.Name)
	h, nsh, err := handleAt(ns)
	if err != nil {
		return err
	}
	defer nsh.Close()
	defer h.Close()
	for _, r := range routes {
		iface := cmp.Or(r.Iface, p.Name)
		link := links[iface]
		if link == nil {
			if link, err = h.LinkByName(iface); err != nil {
				return fmt.Errorf("%s: routes via %s: %w", ns, iface, err)
			}
			links[iface] = link
		}
		nr := &netlink.Route{
			LinkIndex: link.Attrs().Index,
			Dst:       &net.IPNet{IP: r.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(r.Prefix.Bits(), r.Prefix.Addr().BitLen())},
			Gw:        r.Via.AsSlice(),
		}
		if err := h.RouteReplace(nr); err != nil {
			return fmt.Errorf("%s: route %s via %s dev %s: %w", ns, r.Prefix, r.Via, iface, err)
		}
	}
	return nil
}

// ConfigureControlledPort gives the TAP of a controlled port (made by the
// dataplane in the node's namespace, named after the port) its addresses,
// brings it up and installs the node's static routes that leave through
// it. It is idempotent, so the dataplane may call it again after
// re-creating a TAP.
func ConfigureControlledPort(ctx context.Context, topo *Topology, node, port string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n := topo.Node(node)
	if n == nil {
		return fmt.Errorf("lab %s: no node %q", topo.Name, node)
	}
	p := n.Port(port)
	if p == nil {
		return fmt.Errorf("lab %s: node %s has no port %q", topo.Name, node, port)
	}
	if !p.Controlled {
		return fmt.Errorf("lab %s: %s:%s is a plain port (no MACsec, not direct): its veth is configured by Create", topo.Name, node, port)
	}
	ns := NamespaceName(topo.Name, node)
	h, nsh, err := handleAt(ns)
	if err != nil {
		return err
	}
	defer nsh.Close()
	defer h.Close()
	link, err := h.LinkByName(port)
	if err != nil {
		return fmt.Errorf("%s: controlled port %s: %w (the dataplane makes the TAP before calling ConfigureControlledPort)", ns, port, err)
	}
	if p.HostWire {
		// Room for MACsec on the host interface, which the lab never
		// changes: the TAP gives, as the kernel's macsec device does.
		mtu, err := ExternalMTU(p.Wire)
		if err != nil {
			return fmt.Errorf("%s:%s: %w", node, port, err)
		}
		if err := h.LinkSetMTU(link, mtu); err != nil {
			return fmt.Errorf("%s/%s: mtu %d: %w", ns, port, mtu, err)
		}
	}
	if err := addAddresses(h, link, p.Addresses); err != nil {
		return fmt.Errorf("%s/%s: %w", ns, port, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("%s/%s: up: %w", ns, port, err)
	}
	// A peering's interface shares the port's MAC address, as a VLAN
	// device shares its parent's.
	for _, v := range p.VLANs {
		vl, err := h.LinkByName(v.Name)
		if err != nil {
			return fmt.Errorf("%s: peering interface %s: %w (the dataplane makes its TAP)", ns, v.Name, err)
		}
		if err := h.LinkSetHardwareAddr(vl, link.Attrs().HardwareAddr); err != nil {
			return fmt.Errorf("%s/%s: MAC address: %w", ns, v.Name, err)
		}
		if err := addAddresses(h, vl, v.Addresses); err != nil {
			return fmt.Errorf("%s/%s: %w", ns, v.Name, err)
		}
		if err := h.LinkSetUp(vl); err != nil {
			return fmt.Errorf("%s/%s: up: %w", ns, v.Name, err)
		}
	}
	return installRoutes(topo, n, p)
}

// RecordProcess adds a process (e.g. the lab daemon) to the lab's state, so
// that Destroy stops it, also after a crash.
func RecordProcess(stateDir, lab, name string, pid int) error {
	p, err := NewProcess(name, pid)
	if err != nil {
		return fmt.Errorf("lab %s: record %w", lab, err)
	}
	return UpdateState(stateDir, lab, func(st *State) error {
		st.Processes = append(st.Processes, p)
		return nil
	})
}

// NewProcess identifies the running process pid by its start time.
func NewProcess(name string, pid int) (Process, error) {
	start, err := processStartTime(pid)
	if err != nil {
		return Process{}, fmt.Errorf("%s (pid %d): %w", name, pid, err)
	}
	return Process{Name: name, PID: pid, StartTime: start}, nil
}

// UpdateState changes the lab's state under its lock: fn's changes are
// written, unless it fails. A lab without state (removed meanwhile) gives an
// error wrapping fs.ErrNotExist.
func UpdateState(stateDir, lab string, fn func(*State) error) error {
	unlock, err := lockLab(LabDir(stateDir, lab))
	if err != nil {
		return err
	}
	defer unlock()
	st, err := ReadState(stateDir, lab)
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	return st.write(stateDir)
}

// LockLab takes the lab's lock until unlock is called (or the holder dies):
// while it is held, Destroy and RecordProcess wait.
func LockLab(stateDir, lab string) (unlock func(), err error) {
	return lockLab(LabDir(stateDir, lab))
}

// Destroy removes lab as its state file records it: it stops the lab's
// processes, kills anything else still inside its namespaces, deletes the
// namespaces (their veths go with them) and then the state. Objects already
// gone are fine. A lab without state gives an error wrapping
// fs.ErrNotExist. If something cannot be removed, the state is kept so
// that Destroy can be run again.
func Destroy(stateDir, lab string) error {
	if err := needRoot(); err != nil {
		return err
	}
	if err := CheckLabName(lab); err != nil {
		return err
	}
	dir := LabDir(stateDir, lab)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("lab %q is not running (no %s): %w", lab, dir, fs.ErrNotExist)
	}
	unlock, err := lockLab(dir)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := ReadState(stateDir, lab)
	if errors.Is(err, fs.ErrNotExist) {
		// Create died before its first write: it had made nothing.
		st, err = &State{Lab: lab}, nil
	}
	if err != nil {
		return err
	}
	if err := teardown(st); err != nil {
		return fmt.Errorf("lab %s: %w (state kept in %s; run secylab lab down %s again)", lab, err, dir, lab)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("lab %s: %w", lab, err)
	}
	return nil
}

// teardown removes the objects of st, newest first.
func teardown(st *State) error {
	var errs []error
	for _, p := range slices.Backward(st.Processes) {
		if err := p.stop(2 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	// The processes are gone, and with their sockets the promiscuous
	// mode they asked for.
	for _, se := range slices.Backward(st.Externals) {
		if err := restoreExternal(se); err != nil {
			errs = append(errs, err)
		}
	}
	for _, sv := range slices.Backward(st.VXLANs) {
		if err := deleteVXLAN(sv); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range slices.Backward(st.Namespaces) {
		if err := killNamespaceProcesses(ns.Name); err != nil {
			errs = append(errs, err)
		}
		if err := deleteNamespace(ns.Name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// DestroyAll destroys every lab that has a state directory under stateDir,
// and nothing else.
func DestroyAll(stateDir string) error {
	names, err := labNames(stateDir)
	if err != nil {
		return err
	}
	var errs []error
	for _, lab := range names {
		if err := Destroy(stateDir, lab); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// LabStatus is a lab as List sees it.
type LabStatus struct {
	State
	// Missing lists the recorded namespaces that no longer exist, Stopped
	// the recorded processes that no longer run (zombies included: they
	// have ended, only their parent has not reaped them) and Zombies those
	// of them that are zombies.
	Missing []string
	Stopped []Process
	Zombies []Process
	// OwnerGone is set when the lab belongs to a command (Owner) that
	// no longer runs.
	OwnerGone bool
}

// Healthy reports whether the lab is complete with everything in place.
func (s LabStatus) Healthy() bool {
	return s.Complete && len(s.Missing) == 0 && len(s.Stopped) == 0 && !s.OwnerGone
}

// List returns the labs with state under stateDir, sorted by name. State
// files are private (0600 in a 0700 directory), so it needs the same user
// as Create.
func List(stateDir string) ([]LabStatus, error) {
	names, err := labNames(stateDir)
	if err != nil {
		return nil, err
	}
	var labs []LabStatus
	for _, lab := range names {
		st, err := ReadState(stateDir, lab)
		if errors.Is(err, fs.ErrNotExist) {
			st = &State{Lab: lab} // being created, or died before its first write
		} else if err != nil {
			return nil, err
		}
		s := LabStatus{State: *st}
		for _, ns := range st.Namespaces {
			if !namespaceExists(ns.Name) {
				s.Missing = append(s.Missing, ns.Name)
			}
		}
		for _, p := range st.Processes {
			switch {
			case p.zombie():
				s.Zombies = append(s.Zombies, p)
				s.Stopped = append(s.Stopped, p)
			case !p.alive():
				s.Stopped = append(s.Stopped, p)
			}
		}
		s.OwnerGone = st.Owner != nil && !st.Owner.Running()
		labs = append(labs, s)
	}
	return labs, nil
}
