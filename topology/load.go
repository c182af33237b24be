package topology

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"

	"github.com/secylab/secylab/internal/yamlx"
)

// Error is one problem in a topology file, located by line and by field
// path (e.g. links[0].macsec.cipher). Load and Parse return several of them
// joined with errors.Join; use errors.As to get the first.
type Error = yamlx.Error

// Load reads and validates the topology file at path.
func Load(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	return Parse(path, data)
}

// Parse validates a topology read from file (used in messages and to resolve
// relative secret paths).
func Parse(file string, data []byte) (*Topology, error) { return ParseHost(file, data, "") }

// ParseFS validates a topology read from file in fsys (a built-in one):
// a node's config: is a companion file of fsys, relative to file's
// directory, read into Node.ConfigData.
func ParseFS(fsys fs.FS, file string, data []byte) (*Topology, error) {
	var raw rawTopology
	doc, err := yamlx.Decode(file, data, &raw)
	if err != nil {
		return nil, err
	}
	c := &checker{Doc: doc, dir: path.Dir(file), fsys: fsys}
	t := c.build(&raw)
	if err := c.Err(); err != nil {
		return nil, err
	}
	t.Source = file
	return t, nil
}

// LoadHost reads the topology at path and returns the half of it that runs
// on host (the whole lab when host is "").
func LoadHost(path, host string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology: %w", err)
	}
	return ParseHost(path, data, host)
}

// ParseHost validates the whole topology read from file and returns the
// half of it that runs on host (the whole when host is ""): the nodes of
// other hosts at the far end of a VXLAN link are external nodes on the
// VXLAN devices (hosts.go).
func ParseHost(file string, data []byte, host string) (*Topology, error) {
	var raw rawTopology
	doc, err := yamlx.Decode(file, data, &raw)
	if err != nil {
		return nil, err
	}
	c := &checker{Doc: doc, dir: filepath.Dir(file)}
	t := c.build(&raw)
	if err := c.Err(); err != nil {
		return nil, err
	}
	if host != "" {
		half, err := halve(t, &raw, host)
		if err != nil {
			return nil, err
		}
		hc := &checker{Doc: doc, dir: filepath.Dir(file)}
		ht := hc.build(half)
		if err := hc.Err(); err != nil {
			return nil, fmt.Errorf("the half of the lab on host %s: %w", host, err)
		}
		vxlans(t, ht, host)
		ht.Warnings = append(t.Warnings, ht.Warnings...)
		t = ht
	}
	t.Source = file
	return t, nil
}

// The raw shape of the file. Strings stay strings here so that their
// parsing errors carry our messages and field paths.
type rawTopology struct {
	Name    string             `yaml:"name"`
	Profile string             `yaml:"profile"`
	Nodes   map[string]rawNode `yaml:"nodes"`
	Links   []rawLink          `yaml:"links"`
	Tunnels []rawTunnel        `yaml:"tunnels"`
	// ExpressRoutePorts: circuit.go.
	ExpressRoutePorts []rawERPort `yaml:"expressRoutePorts"`
	Azure             *rawAzure   `yaml:"azure"`
	// Hosts are the machines a lab spans, by name: each runs its half
	// (secylab lab up FILE --host NAME), and links between them run over
	// VXLAN.
	Hosts map[string]rawHost `yaml:"hosts"`
}

type rawNode struct {
	Kind   string             `yaml:"kind"`
	Ports  map[string]rawPort `yaml:"ports"`
	Routes []rawRoute         `yaml:"routes"`
	BGP    *rawBGP            `yaml:"bgp"`
	// Config, on a bird or frr node, is the user's own configuration file;
	// on a strongswan node the swanctl.conf its charon loads.
	Config string `yaml:"config"`
	// Host is the host (of the hosts block) that runs the node.
	Host string `yaml:"host"`
	// MACsec, on a node of kind linux only, is what keys its kernel's
	// macsec: wpa_supplicant (the default) or kernel-kay.
	MACsec string `yaml:"macsec"`
	// ActiveActive and BGPSettings, on a vpngateway node only, are
	// Azure's virtualNetworkGateways properties (vpngateway.go).
	ActiveActive bool            `yaml:"activeActive"`
	BGPSettings  *rawBGPSettings `yaml:"bgpSettings"`
}

type rawPort struct {
	Kind      string   `yaml:"kind"`
	Addresses []string `yaml:"addresses"`
	// Interface, on a node of kind external only, is the host interface
	// that leads to the device (a NIC, a VM's TAP, a veth into a
	// container); the lab's port at the other end of the link runs on it.
	Interface string `yaml:"interface"`
	// Force lets the lab use an interface that is up with addresses of
	// the host (refused otherwise).
	Force bool `yaml:"force"`
}

type rawRoute struct {
	Prefix string `yaml:"prefix"`
	Via    string `yaml:"via"`
}

type rawLink struct {
	Name        string          `yaml:"name"`
	Endpoints   []string        `yaml:"endpoints"`
	MACsec      *rawMACsec      `yaml:"macsec"`
	Impairments *rawImpairments `yaml:"impairments"`
	// VNI carries a link whose ends run on two hosts over VXLAN (1 to
	// 16777215, unique in the lab, UDP port 4789).
	VNI *int64 `yaml:"vni"`
}

type rawMACsec struct {
	Enabled           bool                   `yaml:"enabled"`
	Cipher            string                 `yaml:"cipher"`
	SCIState          string                 `yaml:"sciState"`
	Secret            string                 `yaml:"secret"`
	ReplayProtect     *bool                  `yaml:"replayProtect"`
	ReplayWindow      *int64                 `yaml:"replayWindow"`
	KeyServerPriority *int                   `yaml:"keyServerPriority"`
	AllowMismatch     bool                   `yaml:"allowMismatch"`
	Overrides         map[string]rawOverride `yaml:"overrides"`
}

type rawOverride struct {
	Cipher string `yaml:"cipher"`
	Secret string `yaml:"secret"`
}

type rawImpairments struct {
	Delay  string `yaml:"delay"`
	Jitter string `yaml:"jitter"`
	Loss   string `yaml:"loss"`
	Rate   string `yaml:"rate"`
	Down   bool   `yaml:"down"`
}

// sortedKeys returns a map's keys in order, so that validation is
// deterministic.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
