package lab

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/goccy/go-yaml"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/secret"
	"github.com/secylab/secylab/lab/edgeconfig"
	"github.com/secylab/secylab/macsec"
	"github.com/secylab/secylab/macsec/mka"
	"github.com/secylab/secylab/topology"
)

// A containerlab topology (containerlab.dev/manual/topo-def-file, the
// fields of its JSON schema, schemas/clab.schema.json in
// srl-labs/containerlab): name and topology.nodes/links, each node of kind
// linux with an image, binds and exec, each link its endpoints
// "node:interface" and vars.
type clabFile struct {
	Name     string       `yaml:"name"`
	Topology clabTopology `yaml:"topology"`
}

type clabTopology struct {
	Nodes map[string]clabNode `yaml:"nodes"`
	Links []clabLink          `yaml:"links"`
}

type clabNode struct {
	Kind   string            `yaml:"kind"`
	Image  string            `yaml:"image"`
	Group  string            `yaml:"group,omitempty"`
	Binds  []string          `yaml:"binds,omitempty"`
	Exec   []string          `yaml:"exec,omitempty"`
	Labels map[string]string `yaml:"labels,omitempty"`
}

type clabLink struct {
	Endpoints []string       `yaml:"endpoints"`
	Vars      map[string]any `yaml:"vars,omitempty"`
}

// Images of the exported nodes: hosts are plain Linux, routers FRR, and
// the ends of a MACsec link secylab (deploy/containerlab/Dockerfile).
const (
	ClabHostImage    = "alpine:3.20"
	ClabRouterImage  = "quay.io/frrouting/frr:9.1.0"
	ClabSecylabImage = "secylab:latest"
)

// ClabMount is where a secylab node's files are bound in its container:
// NODE/topology.yaml and keys/LINK.key, as beside the clab file under
// NAME/, so that the topology's relative key paths hold in both places.
const ClabMount = "/secylab"

// ContainerlabOptions are lab export's choices.
type ContainerlabOptions struct {
	// WriteKeys fills the key files with the links' keys (a key file's
	// pair; a new random one for secret: generate); without it each is a
	// placeholder to fill, and one already there is left as it is.
	WriteKeys bool
}

// ClabExport is what an export wrote: the clab file, and the key files
// left as placeholders (lab up refuses them until they are filled).
type ClabExport struct {
	Path         string
	Placeholders []string
}

// ExportContainerlab writes a containerlab topology of t into dir:
// NAME.clab.yml, and for each customer router its FRR configuration
// (secylab lab config NODE --format frr) under NAME/NODE/frr.conf, bound
// into the container. The ends of each MACsec link are secylab nodes: a
// container of the secylab image running, by secylab lab up, the node as
// a lab of its own (NAME/NODE/topology.yaml, Topology.Alone) whose links
// are external ends on the container's interfaces eth1, eth2, ... (one per
// port, in the order of their names), so the lab's port (SecY, MKA,
// capture) runs on the veth containerlab makes; the links' keys are files
// under NAME/keys (0700; each 0600), bound read-only, never in the YAML.
// Also carried over: nodes, their addresses, static routes and
// forwarding, the links, BGP with BFD (FRR, or secylab's speaker on a
// secylab node, the Microsoft edge's policy too); external nodes become
// containerlab's host endpoints on their interfaces. Not carried over:
// impairments, IPsec tunnels, the Azure emulator, the Microsoft edge's
// policy on a node that is no MACsec end.
func ExportContainerlab(t *topology.Topology, dir string, o ContainerlabOptions) (ClabExport, error) {
	var ex ClabExport
	f := clabFile{Name: t.Name, Topology: clabTopology{Nodes: map[string]clabNode{}}}
	cfgDir := filepath.Join(dir, t.Name)
	// The secylab nodes and their interfaces, port by port.
	ifaces := map[string]map[string]string{}
	for _, l := range t.Links {
		for _, e := range l.Ends {
			if n := t.Node(e.Node); l.MACsec.Enabled && !n.External() && ifaces[n.Name] == nil {
				ifaces[n.Name] = map[string]string{}
				for i, p := range n.Ports {
					ifaces[n.Name][p.Name] = fmt.Sprintf("eth%d", i+1)
				}
			}
		}
	}
	keys, err := clabKeys(t, cfgDir, ifaces, o, &ex)
	if err != nil {
		return ex, err
	}
	for _, n := range t.Nodes {
		if n.External() {
			continue
		}
		if ifaces[n.Name] != nil {
			cn, err := clabSecylabNode(t, n, cfgDir, ifaces[n.Name], keys)
			if err != nil {
				return ex, err
			}
			f.Topology.Nodes[n.Name] = cn
			continue
		}
		cn := clabNode{Kind: "linux", Image: ClabHostImage, Group: string(n.Kind),
			Labels: map[string]string{"secylab.kind": string(n.Kind)}}
		if n.Forwards() {
			cn.Image = ClabRouterImage
			cn.Exec = append(cn.Exec, "sysctl -w net.ipv4.ip_forward=1")
		}
		for _, p := range n.Ports {
			if far := t.Link(p.Link).Ends[1-p.End]; ifaces[far.Node] != nil {
				// A secylab node's port carries 1500-octet packets (the
				// lab's), not containerlab's 9500.
				cn.Exec = append(cn.Exec, fmt.Sprintf("ip link set dev %s mtu %d", p.Name, topology.PlainMTU))
			}
			for _, a := range p.Addresses {
				cn.Exec = append(cn.Exec, fmt.Sprintf("ip address add %s dev %s", a, p.Name))
			}
			// Peerings: 802.1Q (or QinQ: an 802.1ad S-tag outside) devices.
			outers := map[string]bool{}
			for _, v := range p.VLANs {
				if outer := fmt.Sprintf("%s.%d", p.Name, v.STag); v.CTag != 0 && v.STag != 0 {
					if !outers[outer] {
						outers[outer] = true
						cn.Exec = append(cn.Exec, fmt.Sprintf("ip link add link %s name %s type vlan protocol 802.1ad id %d", p.Name, outer, v.STag),
							fmt.Sprintf("ip link set %s up", outer))
					}
					cn.Exec = append(cn.Exec, fmt.Sprintf("ip link add link %s name %s type vlan id %d", outer, v.Name, v.CTag))
				} else {
					cn.Exec = append(cn.Exec, fmt.Sprintf("ip link add link %s name %s type vlan id %d", p.Name, v.Name, max(v.STag, v.CTag)))
				}
				cn.Exec = append(cn.Exec, fmt.Sprintf("ip link set %s up", v.Name))
				for _, a := range v.Addresses {
					cn.Exec = append(cn.Exec, fmt.Sprintf("ip address add %s dev %s", a, v.Name))
				}
			}
		}
		for _, r := range n.Routes {
			cn.Exec = append(cn.Exec, fmt.Sprintf("ip route add %s via %s dev %s", r.Prefix, r.Via, r.Port))
		}
		switch {
		case n.Kind == topology.KindVPNGateway:
			cn.Labels["secylab.vpngateway"] = "not carried over: Azure's VPN gateway (IKE, its BGP) runs in secylab only"
		case n.BGP != nil && n.BGP.Profile == topology.BGPMicrosoftEdge:
			cn.Labels["secylab.bgp"] = "not carried over: the Microsoft edge's policy runs on a secylab node (a MACsec end) only"
		case n.BGP != nil:
			conf, err := frrConfig(t, n)
			if err != nil {
				return ex, err
			}
			path := filepath.Join(cfgDir, n.Name, "frr.conf")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return ex, err
			}
			if err := os.WriteFile(path, conf, 0o644); err != nil {
				return ex, err
			}
			cn.Binds = []string{filepath.Join(t.Name, n.Name, "frr.conf") + ":/etc/frr/frr.conf"}
			cn.Exec = append(cn.Exec, "sed -i 's/^bgpd=no/bgpd=yes/; s/^bfdd=no/bfdd=yes/' /etc/frr/daemons", "/usr/lib/frr/frrinit.sh restart")
		}
		f.Topology.Nodes[n.Name] = cn
	}
	for _, l := range t.Links {
		cl := clabLink{}
		for _, e := range l.Ends {
			n := t.Node(e.Node)
			switch {
			case n.External():
				cl.Endpoints = append(cl.Endpoints, "host:"+n.Port(e.Port).Interface)
			case ifaces[n.Name] != nil:
				cl.Endpoints = append(cl.Endpoints, e.Node+":"+ifaces[n.Name][e.Port])
			default:
				cl.Endpoints = append(cl.Endpoints, e.Node+":"+e.Port)
			}
		}
		if m := l.MACsec; m.Enabled {
			v := map[string]any{
				"carried":  true,
				"cipher":   m.Cipher.AzureName(),
				"sciState": map[bool]string{true: expressroute.Enabled, false: expressroute.Disabled}[m.IncludeSCI],
			}
			var files []string
			for _, e := range l.Ends {
				if k, ok := keys[e.String()]; ok && !slices.Contains(files, k) {
					files = append(files, k)
				}
			}
			v["keyFiles"] = files
			cl.Vars = map[string]any{"secylab-macsec": v}
		}
		f.Topology.Links = append(f.Topology.Links, cl)
	}
	out, err := yaml.MarshalWithOptions(f, yaml.IndentSequence(true))
	if err != nil {
		return ex, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# containerlab topology of secylab lab %s (from %s), written by secylab lab export.\n", t.Name, t.Source)
	fmt.Fprintf(&b, "# The MACsec ends are secylab nodes (image %s: docker build -t %s -f deploy/containerlab/Dockerfile .\n", ClabSecylabImage, ClabSecylabImage)
	fmt.Fprintf(&b, "# in a secylab clone), each running its node as a lab of its own on the container's interfaces.\n")
	fmt.Fprintf(&b, "# Not carried over: impairments, IPsec tunnels, the Azure emulator. Other images are defaults to replace.\n")
	b.Write(out)
	ex.Path = filepath.Join(dir, t.Name+".clab.yml")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ex, err
	}
	return ex, os.WriteFile(ex.Path, b.Bytes(), 0o644)
}

// clabSecylabNode writes n's lab of its own and returns its container:
// the secylab image, the topology and its key files bound read-only, and
// secylab lab up, which does not wait for the far ends (their containers
// may not run yet when containerlab execs this one).
func clabSecylabNode(t *topology.Topology, n *topology.Node, cfgDir string, ifaces, keys map[string]string) (clabNode, error) {
	links, secrets := map[string]string{}, map[string]string{}
	var binds []string
	for _, p := range n.Ports {
		links[p.Link] = ifaces[p.Name]
		if k, ok := keys[n.Name+":"+p.Name]; ok {
			secrets[p.Link] = filepath.Join("..", k)
			if b := filepath.Join(t.Name, k) + ":" + filepath.Join(ClabMount, k) + ":ro"; !slices.Contains(binds, b) {
				binds = append(binds, b)
			}
		}
	}
	data, err := t.Alone(n.Name, links, secrets)
	if err != nil {
		return clabNode{}, err
	}
	file := filepath.Join(n.Name, "topology.yaml")
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Node %s of secylab lab %s (from %s) as a lab of its own, written by secylab lab export:\n", n.Name, t.Name, t.Source)
	fmt.Fprintf(&b, "# its containerlab container runs it with secylab lab up %s; its neighbours are external\n", filepath.Join(ClabMount, file))
	fmt.Fprintf(&b, "# ends on the container's interfaces.\n")
	b.Write(data)
	if err := os.MkdirAll(filepath.Join(cfgDir, n.Name), 0o755); err != nil {
		return clabNode{}, err
	}
	if err := os.WriteFile(filepath.Join(cfgDir, file), b.Bytes(), 0o644); err != nil {
		return clabNode{}, err
	}
	return clabNode{Kind: "linux", Image: ClabSecylabImage, Group: string(n.Kind),
		Binds: append([]string{filepath.Join(t.Name, file) + ":" + filepath.Join(ClabMount, file) + ":ro"}, binds...),
		Exec:  []string{"secylab lab up " + filepath.Join(ClabMount, file) + " --wait 0"},
		Labels: map[string]string{"secylab.kind": string(n.Kind),
			"secylab.lab": "secylab runs this node (MACsec, MKA, BGP); docker exec it: secylab lab status"},
	}, nil
}

// clabKeys writes the key file of each MACsec link's secylab ends under
// cfgDir/keys: one per secret (the link's, or an end's own), 0600. It
// returns each end's file (node:port → keys/FILE).
func clabKeys(t *topology.Topology, cfgDir string, ifaces map[string]map[string]string, o ContainerlabOptions, ex *ClabExport) (map[string]string, error) {
	keys := map[string]string{}
	for _, l := range t.Links {
		if !l.MACsec.Enabled {
			continue
		}
		suites := map[string]macsec.CipherSuite{}
		for _, e := range l.Ends {
			if ifaces[e.Node] == nil {
				continue
			}
			k := filepath.Join("keys", l.Name+".key")
			if e.OwnSecret {
				k = filepath.Join("keys", l.Name+"."+e.Node+".key")
			}
			keys[e.String()] = k
			// A pair both ends read is for the shorter CAK of their
			// ciphers (Azure pads it for the longer).
			if s, ok := suites[k]; !ok || e.Cipher.KeyLen() < s.KeyLen() {
				suites[k] = e.Cipher
			}
		}
		for _, e := range l.Ends {
			k, ok := keys[e.String()]
			if !ok || suites[k] == 0 {
				continue
			}
			suite := suites[k]
			suites[k] = 0 // written
			if err := writeClabKey(filepath.Join(cfgDir, k), l, e, suite, o, ex); err != nil {
				return nil, err
			}
		}
	}
	return keys, nil
}

// writeClabKey writes one key file: the end's key, or a placeholder.
func writeClabKey(file string, l *topology.Link, e topology.Endpoint, suite macsec.CipherSuite, o ContainerlabOptions, ex *ClabExport) error {
	if err := os.MkdirAll(filepath.Dir(filepath.Dir(file)), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	if !o.WriteKeys {
		ex.Placeholders = append(ex.Placeholders, file)
		if _, err := os.Lstat(file); err == nil {
			return nil // perhaps filled already: never overwrite a key with a placeholder
		}
		return secret.WriteFile(file, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "# secylab lab export: placeholder for the MKA pre-shared key of link %s (%s).\n"+
				"# Put the link's CKN= and CAK= lines here (the Key Vault secrets its macSecConfig names), mode 0600,\n"+
				"# e.g. secylab key gen --cipher %s --out %s --force, or export with --write-keys.\n",
				l.Name, suite.AzureName(), suite.AzureName(), file)
			return err
		})
	}
	if !e.Secret.Generate {
		data, err := secret.ReadFile(e.Secret.Path)
		if err != nil {
			return fmt.Errorf("link %s: %w", l.Name, err)
		}
		defer clear(data)
		return secret.WriteBytes(file, data)
	}
	k, err := mka.GeneratePSK(rand.Reader, suite)
	if err != nil {
		return err
	}
	defer k.Zero()
	return secret.WriteFile(file, func(w io.Writer) error { return expressroute.WriteKeyFile(w, k) })
}

// frrConfig is lab config NODE --format frr for n, without secrets.
func frrConfig(t *topology.Topology, n *topology.Node) ([]byte, error) {
	en, err := EdgeConfig(t, EdgeOptions{Node: n.Name}, expressroute.LabMKAHelloTime, expressroute.LabMKALifeTime)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Name, err)
	}
	var b bytes.Buffer
	if err := edgeconfig.Render(&b, "frr", en); err != nil {
		return nil, fmt.Errorf("%s: %w", n.Name, err)
	}
	return b.Bytes(), nil
}
