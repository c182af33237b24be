package topology

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Builtins lists the names of the topologies built into the binary.
func Builtins() []string {
	entries, _ := fs.ReadDir(builtinFS, "builtin")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// Builtin returns the built-in topology called name, e.g.
// "expressroute-direct".
func Builtin(name string) (*Topology, error) {
	file := path.Join("builtin", name+".yaml")
	data, err := builtinFS.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("topology: no built-in topology %q: want one of %s", name, strings.Join(Builtins(), ", "))
	}
	return Parse(file, data)
}

// BuiltinSource returns the YAML of the built-in topology called name, as
// a starting point for one's own (secylab topology show).
func BuiltinSource(name string) ([]byte, error) {
	data, err := builtinFS.ReadFile(path.Join("builtin", name+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("topology: no built-in topology %q: want one of %s", name, strings.Join(Builtins(), ", "))
	}
	return data, nil
}
