package topology

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// MACsecOverhead is what MACsec adds to a frame at most: a SecTAG with
// SCI (16 octets) and a 16-octet ICV. The controlled port of a lab port on
// a host interface gets the interface's MTU less this, as the kernel's
// macsec device does on its lower device.
const MACsecOverhead = 32

// MinExternalMTU is the least MTU a host interface must have: IPv6's 1280
// plus MACsec's overhead.
const MinExternalMTU = 1280 + MACsecOverhead

// StateExternal is a host interface that an external end of the lab uses.
// The lab never creates, renames, moves or deletes it, nor touches its
// addresses; what it changes (the offloads that would merge or untag
// frames before the data plane sees them, the link state) is recorded here
// before the change, with the value found, so that Destroy restores it
// also after the lab process was killed. Promiscuous mode is not here: the
// lab's socket asks for it as a packet-socket membership, which the kernel
// drops when the socket closes, however the process ends.
type StateExternal struct {
	Link      string `json:"link"`
	Interface string `json:"interface"`
	Index     int    `json:"index"`
	// NetNS identifies the namespace the interface is in (the inode of
	// the lab command's own): lab down must run there to find it.
	NetNS uint64 `json:"netns"`
	// WasDown: the lab set the interface up and sets it down again.
	WasDown bool `json:"wasDown"`
	// Flags is the ethtool flags word found and FlagsChanged the bits
	// the lab cleared (large-receive-offload, rx-vlan-offload).
	Flags        uint32 `json:"flags"`
	FlagsChanged uint32 `json:"flagsChanged"`
	// GROChanged: generic-receive-offload was on and the lab turned it off.
	GROChanged bool `json:"groChanged"`
	// IPv6Silenced: the lab set disable_ipv6, so that the host's kernel
	// sends no neighbour discovery of its own in clear on the link.
	IPv6Silenced bool `json:"ipv6Silenced"`
	Done         bool `json:"done"`
}

// The legacy ethtool commands (linux/ethtool.h): each reads or writes one
// 32-bit value, which is all the lab changes.
const (
	ethtoolGFlags = 0x25
	ethtoolSFlags = 0x26
	ethtoolGGRO   = 0x2b
	ethtoolSGRO   = 0x2c

	ethFlagRxVLAN = 1 << 8
	ethFlagLRO    = 1 << 15
)

// ethtoolValue runs one ETHTOOL_G*/S* command of struct ethtool_value on
// ifname in the calling thread's namespace.
func ethtoolValue(ifname string, cmd uint32, data uint32) (uint32, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	v := struct{ cmd, data uint32 }{cmd, data}
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte // the rest of ifreq's union
	}
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(&v)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&v)
	if errno != 0 {
		return 0, errno
	}
	return v.data, nil
}

// ipv6Sysctl is the disable_ipv6 switch of ifname, in the namespace of
// the thread that opens it.
func ipv6Sysctl(ifname string) string { return "/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6" }

// currentNetNS is the inode of the calling thread's network namespace.
func currentNetNS() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return 0, fmt.Errorf("current network namespace: %w", err)
	}
	return st.Ino, nil
}

// ExternalError is a host interface the lab will not use as it is.
type ExternalError struct{ Link, Interface, Why string }

func (e *ExternalError) Error() string {
	return fmt.Sprintf("link %s: host interface %s: %s", e.Link, e.Interface, e.Why)
}

// hostAddresses lists the addresses of an interface that the host uses
// for its own traffic: every IPv4 one, and IPv6 ones beyond link-local
// (which the kernel gives every interface that is up).
func hostAddresses(link netlink.Link) ([]string, error) {
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	var s []string
	for _, a := range addrs {
		if a.IP.IsLinkLocalUnicast() {
			continue
		}
		s = append(s, a.IPNet.String())
	}
	return s, nil
}

// checkExternal looks at the host interface of the external end of l
// (ext, the external node's port) before anything changes.
func checkExternal(l *Link, ext *Port) (netlink.Link, error) {
	fail := func(format string, a ...any) (netlink.Link, error) {
		return nil, &ExternalError{Link: l.Name, Interface: ext.Interface, Why: fmt.Sprintf(format, a...)}
	}
	link, err := netlink.LinkByName(ext.Interface)
	if err != nil {
		return fail("not found in the namespace the lab runs in (%v): the lab uses an existing interface, never creates one", err)
	}
	a := link.Attrs()
	if a.Flags&net.FlagLoopback != 0 {
		return fail("is a loopback interface")
	}
	if a.MTU < MinExternalMTU {
		return fail("MTU %d cannot carry a 1280-octet IPv6 packet with MACsec's %d octets (want at least %d; the lab never changes it: ip link set %s mtu 1600)", a.MTU, MACsecOverhead, MinExternalMTU, ext.Interface)
	}
	if a.Flags&net.FlagUp != 0 && !ext.Force {
		addrs, err := hostAddresses(link)
		if err != nil {
			return fail("addresses: %v", err)
		}
		if len(addrs) > 0 {
			return fail("is up with addresses of this host (%s): the lab would take it over for the link; use another interface, or say force: true on the external port to share it", strings.Join(addrs, ", "))
		}
	}
	return link, nil
}

// prepareExternal records and makes the changes the lab's port needs on an
// external end's host interface: receive offloads off (GRO and LRO would
// hand the data plane merged super-frames, rx-vlan-offload would take the
// 802.1Q tag out of the frame), and the link up.
func prepareExternal(st *State, stateDir string, l *Link, ext *Port) error {
	link, err := checkExternal(l, ext)
	if err != nil {
		return err
	}
	ns, err := currentNetNS()
	if err != nil {
		return err
	}
	a := link.Attrs()
	se := StateExternal{Link: l.Name, Interface: ext.Interface, Index: a.Index, NetNS: ns, WasDown: a.Flags&net.FlagUp == 0}
	// Interfaces without ethtool support (some virtual ones) have none of
	// these offloads to turn off.
	if flags, err := ethtoolValue(ext.Interface, ethtoolGFlags, 0); err == nil {
		se.Flags = flags
		se.FlagsChanged = flags & (ethFlagLRO | ethFlagRxVLAN)
	}
	if gro, err := ethtoolValue(ext.Interface, ethtoolGGRO, 0); err == nil && gro != 0 {
		se.GROChanged = true
	}
	v6, err := os.ReadFile(ipv6Sysctl(ext.Interface))
	if err == nil && strings.TrimSpace(string(v6)) == "0" {
		// Only where the host has no address of its own: an interface it
		// shares (force) keeps its IPv6, and sends its own traffic anyway.
		addrs, err := hostAddresses(link)
		se.IPv6Silenced = err == nil && len(addrs) == 0
	}
	st.Externals = append(st.Externals, se)
	if err := st.write(stateDir); err != nil {
		return err
	}
	i := len(st.Externals) - 1
	if se.FlagsChanged != 0 {
		// One bit at a time: a bit the device cannot change fails alone.
		for _, bit := range []uint32{ethFlagLRO, ethFlagRxVLAN} {
			if se.FlagsChanged&bit == 0 {
				continue
			}
			cur, err := ethtoolValue(ext.Interface, ethtoolGFlags, 0)
			if err == nil {
				_, err = ethtoolValue(ext.Interface, ethtoolSFlags, cur&^bit)
			}
			if err != nil {
				st.Externals[i].FlagsChanged &^= bit
			}
		}
	}
	if se.GROChanged {
		if _, err := ethtoolValue(ext.Interface, ethtoolSGRO, 0); err != nil {
			return &ExternalError{Link: l.Name, Interface: ext.Interface, Why: fmt.Sprintf("cannot turn off generic-receive-offload: %v", err)}
		}
	}
	if se.IPv6Silenced {
		if err := os.WriteFile(ipv6Sysctl(ext.Interface), []byte("1"), 0o644); err != nil {
			return &ExternalError{Link: l.Name, Interface: ext.Interface, Why: fmt.Sprintf("IPv6 off: %v", err)}
		}
	}
	if se.WasDown {
		if err := netlink.LinkSetUp(link); err != nil {
			return &ExternalError{Link: l.Name, Interface: ext.Interface, Why: fmt.Sprintf("set up: %v", err)}
		}
	}
	st.Externals[i].Done = true
	return st.write(stateDir)
}

// restoreExternal undoes what prepareExternal changed, if the interface is
// still the one it changed. One that is gone (a VM that ended, a NIC
// unplugged) has nothing to restore.
func restoreExternal(se StateExternal) error {
	ns, err := currentNetNS()
	if err != nil {
		return err
	}
	if ns != se.NetNS {
		return fmt.Errorf("link %s: host interface %s is in another network namespace than this command (the one the lab was started in): run lab down there to restore it", se.Link, se.Interface)
	}
	link, err := netlink.LinkByName(se.Interface)
	if err != nil || link.Attrs().Index != se.Index {
		return nil
	}
	var errs []error
	if se.GROChanged {
		if _, err := ethtoolValue(se.Interface, ethtoolSGRO, 1); err != nil {
			errs = append(errs, fmt.Errorf("generic-receive-offload on: %w", err))
		}
	}
	if se.FlagsChanged != 0 {
		cur, err := ethtoolValue(se.Interface, ethtoolGFlags, 0)
		if err == nil {
			_, err = ethtoolValue(se.Interface, ethtoolSFlags, cur&^se.FlagsChanged|se.Flags&se.FlagsChanged)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("offload flags %#x: %w", se.Flags, err))
		}
	}
	if se.WasDown {
		if err := netlink.LinkSetDown(link); err != nil {
			errs = append(errs, fmt.Errorf("set down: %w", err))
		}
	}
	if se.IPv6Silenced {
		if err := os.WriteFile(ipv6Sysctl(se.Interface), []byte("0"), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("IPv6 on: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("link %s: restore host interface %s: %w", se.Link, se.Interface, err)
	}
	return nil
}

// externalEnd returns the external node's port of l, or nil when both
// ends are the lab's.
func externalEnd(topo *Topology, l *Link) *Port {
	for _, e := range l.Ends {
		if n := topo.Node(e.Node); n.External() {
			return n.Port(e.Port)
		}
	}
	return nil
}

// ExternalMTU is the MTU of the controlled port of a lab port on a host
// interface: the interface's less MACsec's overhead, at most Ethernet's
// 1500.
func ExternalMTU(ifname string) (int, error) {
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		return 0, fmt.Errorf("host interface %s: %w", ifname, err)
	}
	return min(PlainMTU, link.Attrs().MTU-MACsecOverhead), nil
}
