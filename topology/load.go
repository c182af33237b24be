package topology

import (
	"fmt"
	"os"
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
func Parse(file string, data []byte) (*Topology, error) {
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
}

type rawNode struct {
	Kind   string             `yaml:"kind"`
	Ports  map[string]rawPort `yaml:"ports"`
	Routes []rawRoute         `yaml:"routes"`
	BGP    *rawBGP            `yaml:"bgp"`
}

type rawPort struct {
	Kind      string       `yaml:"kind"`
	Addresses []string     `yaml:"addresses"`
	Circuits  []rawCircuit `yaml:"circuits"`
}

type rawCircuit struct {
	Name   string `yaml:"name"`
	VLAN   int    `yaml:"vlan"`
	MACsec string `yaml:"macsec"`
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
