package lab

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/topology"
)

// The fields containerlab's topology schema allows (srl-labs/containerlab,
// schemas/clab.schema.json: the file, topology, node-config and
// link-config objects, each with additionalProperties false), and the
// node kinds of its enum that the export uses.
var (
	clabFileFields     = []string{"name", "prefix", "mgmt", "topology"}
	clabTopologyFields = []string{"nodes", "kinds", "defaults", "links"}
	clabNodeFields     = []string{"image", "SANs", "kind", "license", "type", "group", "startup-config", "startup-delay",
		"enforce-startup-config", "auto-remove", "exec", "binds", "ports", "env", "user", "entrypoint", "cmd", "publish",
		"labels", "runtime", "mgmt_ipv4", "mgmt_ipv6", "network-mode", "cpu", "memory", "cpu-set", "sandbox", "kernel",
		"extras", "config", "wait-for"}
	clabLinkFields = []string{"endpoints", "vars"}
	clabEndpoint   = regexp.MustCompile(`^\S+:\S+$`)
)

func keysIn(t *testing.T, what string, m map[string]any, allowed []string) {
	t.Helper()
	for k := range m {
		assert.Contains(t, allowed, k, "%s: %q is not a field of containerlab's schema", what, k)
	}
}

// TestExportContainerlab: the export of each built-in topology (and of one
// with external nodes, and of one without MACsec) is YAML that
// containerlab's schema accepts: only its fields, name and topology.nodes
// present, nodes of kind linux with an image, links of two distinct
// node:interface endpoints that name defined nodes (or containerlab's
// host), each interface used once, every bound file there. The MACsec
// ends are secylab nodes whose lab of their own (lab up accepts it) runs
// their ports on the interfaces the clab links give them, with the keys
// in bound 0600 files and nowhere in the YAML; the customer routers of
// other nodes get their FRR configurations.
func TestExportContainerlab(t *testing.T) {
	for _, name := range []string{"expressroute-direct", "expressroute-ipsec", "expressroute-qinq", "expressroute-vpngw", "external", "plain"} {
		t.Run(name, func(t *testing.T) {
			var topo *topology.Topology
			var err error
			switch name {
			case "external":
				data, rerr := os.ReadFile("testdata/er-microsoft.yaml")
				require.NoError(t, rerr)
				key := filepath.Join(t.TempDir(), "k")
				require.NoError(t, os.WriteFile(key, []byte("CKN="+strings.Repeat("ab", 32)+"\nCAK="+strings.Repeat("cd", 32)+"\n"), 0o600))
				s := strings.NewReplacer("EXT1", "eth1", "EXT2", "eth2", "secret: KEY", "secret: "+key).Replace(string(data))
				topo, err = topology.Parse(filepath.Join(t.TempDir(), "ms.yaml"), []byte(s))
			case "plain":
				data, rerr := topology.BuiltinSource("expressroute-direct")
				require.NoError(t, rerr)
				topo, err = topology.Parse("plain.yaml", []byte(strings.ReplaceAll(string(data), "enabled: true", "enabled: false")))
			default:
				topo, err = topology.Builtin(name)
			}
			require.NoError(t, err)
			dir := t.TempDir()
			ex, err := ExportContainerlab(topo, dir, ContainerlabOptions{WriteKeys: true})
			require.NoError(t, err)
			assert.Empty(t, ex.Placeholders)
			data, err := os.ReadFile(ex.Path)
			require.NoError(t, err)
			var f map[string]any
			require.NoError(t, yaml.Unmarshal(data, &f), "%s", data)
			keysIn(t, "file", f, clabFileFields)
			assert.Equal(t, topo.Name, f["name"])
			tp, ok := f["topology"].(map[string]any)
			require.True(t, ok, "topology is an object")
			keysIn(t, "topology", tp, clabTopologyFields)
			nodes, ok := tp["nodes"].(map[string]any)
			require.True(t, ok, "topology.nodes is required")
			secylabNodes := map[string]*topology.Topology{}
			for nn, v := range nodes {
				n, ok := v.(map[string]any)
				require.True(t, ok, nn)
				keysIn(t, "node "+nn, n, clabNodeFields)
				assert.Equal(t, "linux", n["kind"], nn)
				assert.NotEmpty(t, n["image"], nn)
				if binds, ok := n["binds"].([]any); ok {
					for _, b := range binds {
						src, _, _ := strings.Cut(b.(string), ":")
						assert.FileExists(t, filepath.Join(dir, src), "bind of %s", nn)
					}
				}
				if n["image"] == ClabSecylabImage {
					secylabNodes[nn] = checkSecylabNode(t, dir, topo, nn, n, data)
				}
			}
			links, ok := tp["links"].([]any)
			require.True(t, ok)
			assert.Len(t, links, len(topo.Links))
			used := map[string]bool{}
			for i, v := range links {
				l := v.(map[string]any)
				keysIn(t, "link", l, clabLinkFields)
				eps := l["endpoints"].([]any)
				require.Len(t, eps, 2, "link %d", i)
				for _, e := range eps {
					s := e.(string)
					assert.Regexp(t, clabEndpoint, s)
					assert.False(t, used[s], "%s used twice", s)
					used[s] = true
					node, _, _ := strings.Cut(s, ":")
					if node != "host" {
						assert.Contains(t, nodes, node, "endpoint %s", s)
					}
				}
				assert.NotEqual(t, eps[0], eps[1])
				// A secylab end's lab runs its port on the interface this
				// link gives it.
				tl := topo.Links[i]
				for e, end := range tl.Ends {
					if alone := secylabNodes[end.Node]; alone != nil {
						p := alone.Node(end.Node).Port(end.Port)
						assert.Equal(t, end.Node+":"+p.Wire, eps[e], "link %s", tl.Name)
						assert.True(t, p.HostWire)
					}
				}
			}
			for _, l := range topo.Links {
				for _, e := range l.Ends {
					if n := topo.Node(e.Node); l.MACsec.Enabled && !n.External() {
						assert.Contains(t, secylabNodes, e.Node, "%s is a MACsec end: a secylab node", e.Node)
					}
				}
			}
			switch name {
			case "plain":
				// No MACsec: ce1 is FRR, its peerings VLAN devices.
				assert.Empty(t, secylabNodes)
				ce1 := nodes["ce1"].(map[string]any)
				conf, err := os.ReadFile(filepath.Join(dir, topo.Name, "ce1", "frr.conf"))
				require.NoError(t, err)
				assert.Contains(t, string(conf), "neighbor 192.168.100.130 remote-as 12076")
				assert.Contains(t, ce1["exec"], "ip link add link er1 name er1.100 type vlan id 100")
				assert.Contains(t, ce1["exec"], "ip address add 192.168.100.129/30 dev er1.100", "private peering on its VLAN sub-interface")
				assert.Contains(t, ce1["exec"], "ip address add 203.0.113.1/30 dev er1.200", "Microsoft peering on its VLAN sub-interface")
				assert.NotContains(t, string(data), "secylab-macsec")
			case "external":
				assert.True(t, used["host:eth1"], "the external end is containerlab's host endpoint")
				assert.Len(t, secylabNodes, 2, "msee1 and msee2")
			default:
				assert.Contains(t, string(data), "secylab-macsec")
			}
			if name == "expressroute-direct" {
				// A host's port on a secylab node's link takes the lab's MTU.
				onprem := nodes["onprem-host"].(map[string]any)
				assert.Contains(t, onprem["exec"], "ip link set dev lan1 mtu 1500")
				assert.Equal(t, "ip link set dev lan1 mtu 1500", onprem["exec"].([]any)[0])
			}
		})
	}
}

// checkSecylabNode checks a secylab node of an export in dir: its lab of
// its own is bound with its key files (0600, read-only, holding keys that
// appear in no YAML) and brought up by its exec; it returns that lab's
// topology as lab up reads it.
func checkSecylabNode(t *testing.T, dir string, topo *topology.Topology, name string, n map[string]any, clab []byte) *topology.Topology {
	t.Helper()
	file := filepath.Join(ClabMount, name, "topology.yaml")
	assert.Equal(t, []any{"secylab lab up " + file + " --wait 0"}, n["exec"], name)
	binds := map[string]string{} // in the container → beside the clab file
	for _, b := range n["binds"].([]any) {
		parts := strings.Split(b.(string), ":")
		require.Len(t, parts, 3, "%s", b)
		assert.Equal(t, "ro", parts[2])
		binds[parts[1]] = parts[0]
	}
	require.Contains(t, binds, file)
	own := filepath.Join(dir, binds[file])
	alone, err := topology.Load(own)
	require.NoError(t, err, "lab up reads %s", own)
	assert.Equal(t, topo.Name, alone.Name)
	aloneYAML, err := os.ReadFile(own)
	require.NoError(t, err)
	for _, l := range alone.Links {
		if !l.MACsec.Enabled {
			continue
		}
		for _, e := range l.Ends {
			if e.Node != name {
				continue
			}
			// The key file's path holds in the container as beside the
			// clab file.
			rel, err := filepath.Rel(filepath.Join(dir, topo.Name), e.Secret.Path)
			require.NoError(t, err)
			src, ok := binds[filepath.Join(ClabMount, rel)]
			require.True(t, ok, "%s's key %s is bound", name, rel)
			st, err := os.Stat(filepath.Join(dir, src))
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
			key, err := os.ReadFile(filepath.Join(dir, src))
			require.NoError(t, err)
			m := regexp.MustCompile(`CAK=(\S+)`).FindSubmatch(key)
			require.NotNil(t, m, "%s holds the key", src)
			assert.NotContains(t, string(clab), string(m[1]))
			assert.NotContains(t, string(aloneYAML), string(m[1]))
			assert.Equal(t, topo.Link(l.Name).Ends[slices.IndexFunc(topo.Link(l.Name).Ends[:], func(x topology.Endpoint) bool { return x.Node == name })].Cipher, e.Cipher)
		}
	}
	return alone
}

// TestExportContainerlabKeys: without --write-keys each key file is a 0600
// placeholder that lab up refuses at the link's secret, saying what it
// wants, and a later export leaves a filled one alone; --write-keys gives
// both ends of a link one key (new for secret: generate) and another
// link another.
func TestExportContainerlabKeys(t *testing.T) {
	topo, err := topology.Builtin("expressroute-direct")
	require.NoError(t, err)
	dir := t.TempDir()
	ex, err := ExportContainerlab(topo, dir, ContainerlabOptions{})
	require.NoError(t, err)
	link1 := filepath.Join(dir, "er", "keys", "link1.key")
	assert.ElementsMatch(t, []string{link1, filepath.Join(dir, "er", "keys", "link2.key")}, ex.Placeholders)
	st, err := os.Stat(link1)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	st, err = os.Stat(filepath.Dir(link1))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	_, err = topology.Load(filepath.Join(dir, "er", "ce1", "topology.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "links[0].macsec.secret")
	assert.Contains(t, err.Error(), "want both a CKN= and a CAK= line")

	filled := "CKN=" + strings.Repeat("ab", 16) + "\nCAK=" + strings.Repeat("cd", 32) + "\n"
	require.NoError(t, os.WriteFile(link1, []byte(filled), 0o600))
	_, err = ExportContainerlab(topo, dir, ContainerlabOptions{})
	require.NoError(t, err)
	got, err := os.ReadFile(link1)
	require.NoError(t, err)
	assert.Equal(t, filled, string(got), "a filled key file is not overwritten by a placeholder")
	for _, node := range []string{"ce1", "msee1"} {
		_, err = topology.Load(filepath.Join(dir, "er", node, "topology.yaml"))
		assert.NoError(t, err, "%s reads the filled key", node)
	}

	ex, err = ExportContainerlab(topo, dir, ContainerlabOptions{WriteKeys: true})
	require.NoError(t, err)
	assert.Empty(t, ex.Placeholders)
	k1, err := os.ReadFile(link1)
	require.NoError(t, err)
	k2, err := os.ReadFile(filepath.Join(dir, "er", "keys", "link2.key"))
	require.NoError(t, err)
	assert.NotEqual(t, filled, string(k1), "--write-keys writes a new key for secret: generate")
	assert.NotEqual(t, k1, k2)
	a, err := topology.Load(filepath.Join(dir, "er", "ce1", "topology.yaml"))
	require.NoError(t, err)
	b, err := topology.Load(filepath.Join(dir, "er", "msee1", "topology.yaml"))
	require.NoError(t, err)
	assert.Equal(t, a.Link("link1").MACsec.Secret.Path, b.Link("link1").MACsec.Secret.Path, "both ends of link1 read one key file")
}
