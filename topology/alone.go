package topology

import (
	"errors"
	"fmt"
	"slices"

	"github.com/goccy/go-yaml"
)

// Alone returns, as a topology file, the lab of one node run on its own:
// what a container of a containerlab export runs (secylab lab export).
// The node is as the topology has it; each node at the far end of one of
// its links is an external node on the local interface ifaces names for
// that link (its addresses and BGP still describe it), so the lab's port
// (SecY, MKA, capture) runs on that interface. A MACsec link keeps its
// settings with this end's cipher and reads its key from secrets[link], a
// path relative to the file. A Direct port pair keeps the node's links;
// a peering on the secondary link alone keeps the secondary prefix. Not
// carried: tunnels, the Azure emulator, impairments, hosts and VNIs (what
// a lab of one node cannot run), and a node's own configuration file.
func (t *Topology) Alone(node string, ifaces, secrets map[string]string) ([]byte, error) {
	n := t.Node(node)
	switch {
	case t.raw == nil:
		return nil, fmt.Errorf("topology %s: no source to write node %s's lab from", t.Name, node)
	case n == nil:
		return nil, fmt.Errorf("topology %s: no node %q", t.Name, node)
	case n.External():
		return nil, fmt.Errorf("node %s is kind %s: the lab does not run it", node, n.Kind)
	case n.Config != "":
		return nil, fmt.Errorf("node %s runs its own configuration file (config: %s), which a lab of its own does not carry", node, n.Config)
	}
	var errs []error
	for _, p := range n.Ports {
		l := t.Link(p.Link)
		if ifaces[l.Name] == "" {
			errs = append(errs, fmt.Errorf("node %s: link %s: no local interface for it", node, l.Name))
		}
		if l.MACsec.Enabled && secrets[l.Name] == "" {
			errs = append(errs, fmt.Errorf("node %s: link %s runs MACsec: no key file for it", node, l.Name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := split(t, t.raw, func(name string) bool { return name == node }, func(l *Link) string { return ifaces[l.Name] })
	a.Name, a.Tunnels, a.Azure = t.Name, nil, nil
	for i := range a.Links {
		rl := &a.Links[i]
		rl.Impairments = nil
		if rl.MACsec == nil {
			continue
		}
		m := *rl.MACsec
		l := t.Link(rl.Name)
		if e := l.Ends[slices.IndexFunc(l.Ends[:], func(e Endpoint) bool { return e.Node == node })]; e.Cipher != 0 {
			m.Cipher = e.Cipher.AzureName()
		}
		m.Overrides, m.Secret = nil, ""
		if m.Enabled {
			m.Secret = secrets[rl.Name]
		}
		rl.MACsec = &m
	}
	out, err := yaml.MarshalWithOptions(a, yaml.OmitEmpty(), yaml.IndentSequence(true))
	if err != nil {
		return nil, err
	}
	// The same file with generated keys must be valid: the key files are
	// the caller's to write, and may be placeholders until filled.
	check := *a
	check.Links = slices.Clone(a.Links)
	for i, rl := range check.Links {
		if rl.MACsec != nil {
			m := *rl.MACsec
			m.Secret = ""
			check.Links[i].MACsec = &m
		}
	}
	data, err := yaml.MarshalWithOptions(check, yaml.OmitEmpty())
	if err != nil {
		return nil, err
	}
	if _, err := Parse(node+".yaml", data); err != nil {
		return nil, fmt.Errorf("node %s's lab of its own: %w", node, err)
	}
	return out, nil
}
