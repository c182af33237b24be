package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/secylab/secylab"

// A layer is a rank in DESIGN §3's picture. Dependencies point one way:
// a package imports packages of lower layers only, or packages of its
// own layer under the same top-level directory (macsec/mka → macsec,
// bgp → bgp/bfd, dataplane → dataplane/capture).
type layer int

const (
	base     layer = iota // pure helpers anyone may use: clock, version, YAML positions
	protocol              // pure protocol packages: macsec, macsec/mka, ipsec core, ipsec/ike, bgp, bgp/bfd
	profile               // the ExpressRoute product profile, configuring the protocols
	values                // the one parser of each value a user gives, with the profile's spellings
	system                // Linux plumbing shared by the edges: namespaces, batch frame I/O
	edge                  // topology, azure, dataplane, routers, ipsec backends
	runtime               // lab: the lab runtime
	front                 // scenario, conformance, bench
	cli                   // cmd/...
)

var layerNames = [...]string{
	base:     "a base package",
	protocol: "a protocol package",
	profile:  "the product profile",
	values:   "the value parsers",
	system:   "a Linux system package",
	edge:     "an edge package",
	runtime:  "the lab runtime",
	front:    "a front package (scenario, conformance, bench)",
	cli:      "the CLI",
}

func (l layer) String() string { return layerNames[l] }

// pure reports whether packages of the layer must build without Linux.
func (l layer) pure() bool { return l <= values }

// layers assigns every package of the module to a layer by the longest
// matching entry: "p" matches p and everything under it, "p/*" only what
// is under p. A package no entry matches fails the test: place it here
// (and in DESIGN's picture) when you add it.
var layers = map[string]layer{
	"clock":                base,
	"internal/version":     base,
	"internal/yamlx":       base,
	"internal/offload":     base,
	"internal/fingerprint": base,
	"internal/junit":       base,
	"internal/fieldref":    base, // the docs/ field reference, read from the types' source
	"internal/layering":    base,

	"macsec":    protocol, // and macsec/mka
	"bgp":       protocol, // and bgp/bfd
	"ipsec":     protocol, // the ESP core
	"ipsec/ike": protocol,
	"ipsec/*":   edge, // ipsec's Linux backends: xfrm, the userspace gateway

	"expressroute":   profile,
	"internal/value": values,

	"internal/netnsx":  system,
	"internal/pgroup":  system, // ending a daemon's process group
	"internal/frameio": system,
	"internal/nettest": system,
	"internal/secret":  system, // key files: one rule (regular, 0600), then Azure's
	"internal/kmacsec": system, // the kernel SecY: macsec over rtnetlink and genetlink, keyed by mka

	"topology":  edge,
	"azure":     edge,
	"dataplane": edge,
	"routers":   edge,

	"lab": runtime,

	"scenario":    front,
	"conformance": front,
	"bench":       front,

	"cmd": cli,
}

// linuxOnly are the packages a pure package must not depend on, even
// indirectly.
var linuxOnly = []string{
	"github.com/vishvananda/netlink",
	"github.com/vishvananda/netns",
	"golang.org/x/sys/unix",
	module + "/internal/netnsx",
	module + "/internal/frameio",
}

const direction = "dependencies point one way: cmd → {scenario, conformance, bench} → lab → {topology, azure, dataplane, routers, ipsec backends} → expressroute → {macsec, mka, ipsec core, ike, bgp, bfd} → clock; protocol packages import no edge, no namespace or netlink code, nothing Linux (DESIGN §3)"

// layerOf returns the layer of a module-relative package path.
func layerOf(rel string) (layer, bool) {
	best, bestLen, found := layer(0), -1, false
	for pat, l := range layers {
		n := -1
		if p, ok := strings.CutSuffix(pat, "/*"); ok {
			if strings.HasPrefix(rel, p+"/") {
				n = len(p) + 1
			}
		} else if rel == pat || strings.HasPrefix(rel, pat+"/") {
			n = len(pat)
		}
		if n > bestLen {
			best, bestLen, found = l, n, true
		}
	}
	return best, found
}

func top(rel string) string { t, _, _ := strings.Cut(rel, "/"); return t }

type pkg struct {
	ImportPath   string
	Standard     bool
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

func goCmd(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Skip("no go command on PATH")
	}
	return p
}

// moduleRoot is the directory of go.mod, two levels up from here.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

// list runs go list -e -deps -json ./... and returns every package by
// import path. With -e an import cycle (a wrong arrow often makes one)
// still lists the imports, so the test names the arrow, not just the cycle.
func list(t *testing.T) map[string]*pkg {
	t.Helper()
	cmd := exec.Command(goCmd(t), "list", "-e", "-deps", "-json", "./...")
	cmd.Dir = moduleRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		p := new(pkg)
		if err := dec.Decode(p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

func rel(path string) (string, bool) {
	if path == module {
		return ".", true
	}
	return strings.CutPrefix(path, module+"/")
}

// check returns the violations of package p (module-relative r, layer l)
// against DESIGN's direction, each naming the offending import and the rule.
func check(pkgs map[string]*pkg, p *pkg, r string, l layer) []string {
	var bad []string
	imports := slices.Concat(p.Imports, p.TestImports, p.XTestImports)
	slices.Sort(imports)
	imports = slices.Compact(imports)
	for _, imp := range imports {
		ir, ok := rel(imp)
		if !ok || imp == p.ImportPath {
			continue
		}
		il, known := layerOf(ir)
		if !known {
			continue // reported for the package itself
		}
		switch {
		case il > l:
			bad = append(bad, fmt.Sprintf("%s imports %s: %s is %s and %s is %s, a higher layer; %s", r, ir, r, l, ir, il, direction))
		case il == l && top(ir) != top(r):
			bad = append(bad, fmt.Sprintf("%s imports %s: both are %s; packages of one layer import only within their own tree, or the lower layers; %s", r, ir, l, direction))
		}
	}
	if !l.pure() {
		return bad
	}
	// What the package itself compiles must not reach Linux code by any
	// path; its tests only must not import it directly (a test may use,
	// say, a pcap reader whose Linux build has a capture handle).
	for _, imp := range imports {
		if imp == "syscall" {
			bad = append(bad, fmt.Sprintf("%s imports syscall: %s is %s and must be pure (no system calls); %s", r, r, l, direction))
			continue
		}
		if ir, ok := rel(imp); ok {
			if il, _ := layerOf(ir); il > l {
				continue // already reported: a higher layer
			}
		}
		reach := []string{imp}
		if d := pkgs[imp]; d != nil && slices.Contains(p.Imports, imp) {
			reach = append(reach, d.Deps...)
		}
		for _, lx := range linuxOnly {
			if !slices.Contains(reach, lx) {
				continue
			}
			how := "imports " + short(lx)
			if imp != lx {
				how = "imports " + short(imp) + ", which depends on " + short(lx)
			}
			bad = append(bad, fmt.Sprintf("%s %s: %s is %s and must not depend on Linux code (namespaces, netlink, x/sys/unix); %s", r, how, r, l, direction))
			break
		}
	}
	return bad
}

// short is a module package's path without the module.
func short(path string) string {
	if r, ok := rel(path); ok {
		return r
	}
	return path
}

func TestDependencyDirection(t *testing.T) {
	pkgs := list(t)
	var paths []string
	for path, p := range pkgs {
		if _, ok := rel(path); ok && !p.Standard {
			paths = append(paths, path)
		}
	}
	slices.Sort(paths)
	if len(paths) == 0 {
		t.Fatal("go list found no package of the module")
	}
	for _, path := range paths {
		p := pkgs[path]
		r, _ := rel(path)
		l, ok := layerOf(r)
		if !ok {
			t.Errorf("%s has no layer: add it to the layers table in internal/layering (and to DESIGN's picture); %s", r, direction)
			continue
		}
		for _, v := range check(pkgs, p, r, l) {
			t.Error(v)
		}
	}
}

// The rule itself: a wrong arrow is caught and named, whatever the tree.
func TestCheckNamesTheOffendingImport(t *testing.T) {
	pkgs := map[string]*pkg{
		module + "/dataplane":       {ImportPath: module + "/dataplane", Deps: []string{"golang.org/x/sys/unix"}},
		module + "/internal/netnsx": {ImportPath: module + "/internal/netnsx", Deps: []string{"golang.org/x/sys/unix"}},
	}
	for _, c := range []struct {
		rel, imp, want string
	}{
		{"macsec/mka", "dataplane", "macsec/mka imports dataplane: macsec/mka is a protocol package and dataplane is an edge package, a higher layer"},
		{"bgp", "internal/netnsx", "bgp imports internal/netnsx: bgp is a protocol package and internal/netnsx is a Linux system package, a higher layer"},
		{"clock", "github.com/secylab/secylab/dataplane", "clock imports dataplane"},
		{"bgp", "github.com/vishvananda/netlink", "bgp imports github.com/vishvananda/netlink: bgp is a protocol package and must not depend on Linux code"},
		{"macsec", "syscall", "macsec imports syscall"},
		{"bgp/bfd", "golang.org/x/sys/unix", "bgp/bfd imports golang.org/x/sys/unix"},
		{"topology", "lab", "topology imports lab: topology is an edge package and lab is the lab runtime"},
		{"topology", "dataplane", "topology imports dataplane: both are an edge package"},
		{"expressroute", "routers", "expressroute imports routers"},
	} {
		imp := c.imp
		if !strings.Contains(imp, ".") && imp != "syscall" {
			imp = module + "/" + imp
		}
		l, ok := layerOf(c.rel)
		if !ok {
			t.Fatalf("%s has no layer", c.rel)
		}
		got := strings.Join(check(pkgs, &pkg{ImportPath: module + "/" + c.rel, Imports: []string{imp}}, c.rel, l), "\n")
		if !strings.Contains(got, c.want) {
			t.Errorf("%s importing %s: got %q, want it to say %q", c.rel, c.imp, got, c.want)
		}
	}
	for _, ok := range [][2]string{{"macsec/mka", "macsec"}, {"bgp", "bgp/bfd"}, {"bgp", "clock"}, {"lab", "routers"}, {"routers", "expressroute"}, {"ipsec/xfrm", "ipsec"}, {"cmd/secylab", "scenario"}} {
		l, _ := layerOf(ok[0])
		if v := check(pkgs, &pkg{ImportPath: module + "/" + ok[0], Imports: []string{module + "/" + ok[1]}}, ok[0], l); len(v) > 0 {
			t.Errorf("%s importing %s is allowed, got %v", ok[0], ok[1], v)
		}
	}
}

// The pure packages build, tests included, for a system without Linux.
func TestPurePackagesBuildForDarwin(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles for darwin; skipped with -short")
	}
	pkgs := list(t)
	var pure []string
	for path, p := range pkgs {
		r, ok := rel(path)
		if !ok || p.Standard {
			continue
		}
		if l, ok := layerOf(r); ok && l.pure() {
			pure = append(pure, "./"+r)
		}
	}
	slices.Sort(pure)
	cmd := exec.Command(goCmd(t), append([]string{"vet"}, pure...)...)
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "GOOS=darwin", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=darwin go vet %s: %v\n%s", strings.Join(pure, " "), err, out)
	}
	t.Logf("GOOS=darwin go vet: %s", strings.Join(pure, " "))
}
