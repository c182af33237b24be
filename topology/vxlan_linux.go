package topology

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// StateVXLAN is a VXLAN device the lab created for a link between two
// hosts, in the namespace the lab was started in, recorded before it is
// made so that lab down removes it also after the lab process was killed.
type StateVXLAN struct {
	Link   string `json:"link"`
	Device string `json:"device"`
	VNI    uint32 `json:"vni"`
	// Remote is the far host: "name (address)".
	Remote string `json:"remote"`
	Index  int    `json:"index"`
	NetNS  uint64 `json:"netns"`
	Done   bool   `json:"done"`
}

// underlay finds the interface that holds addr in this namespace.
func underlay(addr net.IP) (netlink.Link, error) {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if a.IP.Equal(addr) {
			return netlink.LinkByIndex(a.LinkIndex)
		}
	}
	return nil, fmt.Errorf("no interface of the namespace the lab runs in has the address %s", addr)
}

// createVXLAN makes the VXLAN device of l: the local host's underlay
// address as source, the far host's as the one remote (so every frame the
// lab's port sends goes there), the link's VNI on port 4789, and an MTU of
// the underlay's less VXLAN's 50 octets. The lab's port then uses it as a
// host interface (prepareExternal).
func createVXLAN(st *State, stateDir string, l *Link) error {
	v := l.VXLAN
	fail := func(format string, a ...any) error {
		return fmt.Errorf("link %s: VXLAN %d to host %s (%s): %s", l.Name, v.VNI, v.Remote.Name, v.Remote.Address, fmt.Sprintf(format, a...))
	}
	local := net.IP(v.Local.Address.AsSlice())
	under, err := underlay(local)
	if err != nil {
		return fail("host %s's underlay address: %v (is this host %s?)", v.Local.Name, err, v.Local.Name)
	}
	if m := under.Attrs().MTU; m < v.Local.MTU {
		return fail("the topology gives host %s an underlay MTU of %d, but %s, which has its address, has %d", v.Local.Name, v.Local.MTU, under.Attrs().Name, m)
	}
	ns, err := currentNetNS()
	if err != nil {
		return err
	}
	st.VXLANs = append(st.VXLANs, StateVXLAN{Link: l.Name, Device: v.Device, VNI: v.VNI, NetNS: ns,
		Remote: fmt.Sprintf("%s (%s)", v.Remote.Name, v.Remote.Address)})
	if err := st.write(stateDir); err != nil {
		return err
	}
	i := len(st.VXLANs) - 1
	dev := &netlink.Vxlan{
		LinkAttrs:    netlink.LinkAttrs{Name: v.Device, MTU: v.Local.MTU - VXLANOverhead},
		VxlanId:      int(v.VNI),
		VtepDevIndex: under.Attrs().Index,
		SrcAddr:      local,
		Group:        net.IP(v.Remote.Address.AsSlice()),
		Port:         VXLANPort,
	}
	if err := netlink.LinkAdd(dev); err != nil {
		if errors.Is(err, unix.EEXIST) {
			// Not ours: it leaves the intent log untouched.
			st.VXLANs = st.VXLANs[:i]
			return errors.Join(fail("an interface %s exists already (another lab's half?)", v.Device), st.write(stateDir))
		}
		return fail("create %s: %v", v.Device, err)
	}
	link, err := netlink.LinkByName(v.Device)
	if err != nil {
		return fail("%v", err)
	}
	st.VXLANs[i].Index, st.VXLANs[i].Done = link.Attrs().Index, true
	return st.write(stateDir)
}

// deleteVXLAN removes a VXLAN device the lab made, if it is still the one
// it made.
func deleteVXLAN(sv StateVXLAN) error {
	ns, err := currentNetNS()
	if err != nil {
		return err
	}
	if ns != sv.NetNS {
		return fmt.Errorf("link %s: VXLAN device %s is in another network namespace than this command (the one the lab was started in): run lab down there", sv.Link, sv.Device)
	}
	link, err := netlink.LinkByName(sv.Device)
	if err != nil {
		return nil
	}
	if _, ok := link.(*netlink.Vxlan); !ok || (sv.Done && link.Attrs().Index != sv.Index) {
		return nil
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("link %s: delete VXLAN device %s: %w", sv.Link, sv.Device, err)
	}
	return nil
}
