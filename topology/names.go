package topology

import (
	"fmt"

	"github.com/secylab/secylab/internal/value"
)

const (
	// MaxLabName keeps sl-<lab>.<node> short and leaves room for the lab
	// prefix in temporary interface names.
	MaxLabName = 10
	// MaxNodeName keeps namespace names readable in ip netns list.
	MaxNodeName = 15
	// MaxIfName is Linux's IFNAMSIZ-1: ports and links are interface names.
	MaxIfName = 15

	// NamespacePrefix starts every namespace secylab makes.
	NamespacePrefix = "sl-"
	// NamespaceSep separates the lab from the node in a namespace name. Lab
	// and node names cannot hold it, so two labs never make the same name
	// (lab rtn's node a-ce1 is sl-rtn.a-ce1, lab rtn-a's node ce1 is
	// sl-rtn-a.ce1), and no namespace secylab makes for anything but a lab
	// (probes, conformance) holds it either.
	NamespaceSep = "."
)

// NamespaceName is the network namespace of node in lab: sl-<lab>.<node>,
// under /run/netns.
func NamespaceName(lab, node string) string { return NamespacePrefix + lab + NamespaceSep + node }

// checkName reports why s is not a name of at most maxLen bytes (the name
// rule: lower-case letters, digits and inner hyphens, starting with a
// letter).
func checkName(s string, maxLen int) error { return value.CheckName(s, maxLen) }

// CheckName reports why s is not a name of at most maxLen bytes: lower-case
// letters, digits and inner hyphens, starting with a letter. Everything a
// lab derives a file, namespace or interface name from follows it (labs,
// nodes, ports, links, tunnels, scenarios, keys), so no name is ever a path.
func CheckName(s string, maxLen int) error { return checkName(s, maxLen) }

// CheckLabName reports whether lab is a valid lab name.
func CheckLabName(lab string) error {
	if err := checkName(lab, MaxLabName); err != nil {
		return fmt.Errorf("lab name %w", err)
	}
	return nil
}

// Rename gives the lab another name, so that one topology file can run as
// several labs side by side (secylab lab up --name).
func (t *Topology) Rename(lab string) error {
	if err := CheckLabName(lab); err != nil {
		return fmt.Errorf("topology %s: %w", t.Source, err)
	}
	t.Name = lab
	return nil
}
