package topology

import (
	"fmt"
	"regexp"
)

// Azure is the lab's emulation of Azure's control plane (the azure:
// block, or lab up --azure): one expressRoutePorts resource whose links
// drive the Microsoft edge of the lab's Direct links, its user-assigned
// identity and the Key Vault holding the CKN/CAK secrets. A lab with an
// expressRoutePorts block serves that port (its name, bandwidth,
// encapsulation and links); otherwise the azure block says.
type Azure struct {
	// Port is the expressRoutePorts resource's name (default: the first of
	// expressRoutePorts, else LAB-port).
	Port string
	// ResourceGroup holds the port, the vault and the identity (default
	// secylab).
	ResourceGroup string
	// Vault is the Key Vault of the links' CKN and CAK secrets (default
	// LAB-kv); it is soft-delete enabled, as ExpressRoute requires.
	Vault string
	// Identity is the port's user-assigned identity, which may get and
	// list Vault's secrets (default LAB-identity).
	Identity string
	// BandwidthInGbps is 10 or 100 (default 100; from expressRoutePorts
	// when the lab has one): Azure refuses the XPN ciphers on 10 Gbps.
	BandwidthInGbps int
	Encapsulation   Encapsulation
	// PeeringLocation is the port's (default Equinix-Seattle-SE2).
	PeeringLocation string
	// Links are the port's links (Azure's link1, link2, in this order;
	// default: the Direct links that end at a Microsoft edge, or
	// expressRoutePorts' links).
	Links []AzureLink
}

// AzureLink is one of the port's links: the lab's link and the node at
// its Microsoft end, which follows the link's adminState and macSecConfig.
type AzureLink struct {
	Link, Edge string
}

type rawAzure struct {
	Port            string         `yaml:"port"`
	ResourceGroup   string         `yaml:"resourceGroup"`
	Vault           string         `yaml:"vault"`
	Identity        string         `yaml:"identity"`
	BandwidthInGbps *int           `yaml:"bandwidthInGbps"`
	PeeringLocation string         `yaml:"peeringLocation"`
	Links           []rawAzureLink `yaml:"links"`
}

type rawAzureLink struct {
	// Link is the lab's link standing for link1 (the first) or link2.
	Link string `yaml:"link"`
	// MicrosoftEdge is its end that follows the port (default: the end
	// whose node has BGP profile microsoft-edge).
	MicrosoftEdge string `yaml:"microsoftEdge"`
}

var (
	azureName      = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,78}[a-zA-Z0-9_]$|^[a-zA-Z0-9]$`)
	azureVaultName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$`)
)

// AzureBandwidths are the bandwidths of an ExpressRoute Direct port.
var AzureBandwidths = []int{10, 100}

// DefaultAzure is the azure block lab up --azure gives a topology that has
// none: the lab's Direct links whose far end is a Microsoft edge (BGP
// profile microsoft-edge), in file order.
func DefaultAzure(t *Topology) (*Azure, error) {
	c := &checker{}
	a := c.azure(t, &rawAzure{})
	if len(c.plain) > 0 {
		return nil, fmt.Errorf("azure: %s", c.plain[0])
	}
	return a, nil
}

// azure checks the azure block; with the checker's Doc nil (DefaultAzure)
// problems are collected unlocated.
func (c *checker) azure(t *Topology, ra *rawAzure) *Azure {
	a := &Azure{Port: ra.Port, ResourceGroup: ra.ResourceGroup, Vault: ra.Vault, Identity: ra.Identity, BandwidthInGbps: 100, Encapsulation: Dot1Q, PeeringLocation: ra.PeeringLocation}
	if a.ResourceGroup == "" {
		a.ResourceGroup = "secylab"
	}
	if a.Vault == "" {
		a.Vault = t.Name + "-kv"
	}
	if a.Identity == "" {
		a.Identity = t.Name + "-identity"
	}
	if a.PeeringLocation == "" {
		a.PeeringLocation = "Equinix-Seattle-SE2"
	}
	if len(t.ExpressRoutePorts) > 0 {
		return c.azurePort(t, ra, a)
	}
	if a.Port == "" {
		a.Port = t.Name + "-port"
	}
	c.azureNames(a)
	if ra.BandwidthInGbps != nil {
		a.BandwidthInGbps = *ra.BandwidthInGbps
		if a.BandwidthInGbps != 10 && a.BandwidthInGbps != 100 {
			c.problem("azure.bandwidthInGbps", "%d: an ExpressRoute Direct port is 10 or 100 Gbps", a.BandwidthInGbps)
		}
	}
	if len(ra.Links) == 0 {
		for _, l := range t.Links {
			if edge := msEdgeNode(t, l); edge != "" && directLink(t, l) {
				ra.Links = append(ra.Links, rawAzureLink{Link: l.Name, MicrosoftEdge: edge})
			}
		}
		if len(ra.Links) == 0 {
			c.problem("azure.links", "no Direct link of the lab ends at a Microsoft edge (a node with BGP profile microsoft-edge): name them (links: [{link: link1, microsoftEdge: msee1}, …])")
		}
	}
	if len(ra.Links) > 2 {
		c.problem("azure.links", "%d links: an ExpressRoute Direct port has two (link1, link2)", len(ra.Links))
	}
	for i, rl := range ra.Links {
		path := fmt.Sprintf("azure.links[%d]", i)
		l := t.Link(rl.Link)
		switch {
		case l == nil:
			c.problem(path+".link", "no link %q in the lab", rl.Link)
			continue
		case !directLink(t, l):
			c.problem(path+".link", "link %s is not between two ports of kind direct: only an ExpressRoute Direct link runs MACsec", rl.Link)
		}
		edge := rl.MicrosoftEdge
		if edge == "" {
			edge = msEdgeNode(t, l)
		}
		if edge == "" || (l.Ends[0].Node != edge && l.Ends[1].Node != edge) {
			c.problem(path+".microsoftEdge", "%q is not an end of link %s: want %s or %s", edge, l.Name, l.Ends[0].Node, l.Ends[1].Node)
		}
		for _, o := range a.Links {
			if o.Link == l.Name {
				c.problem(path+".link", "link %s is given twice", l.Name)
			}
		}
		a.Links = append(a.Links, AzureLink{Link: l.Name, Edge: edge})
	}
	return a
}

// azurePort serves one of the lab's expressRoutePorts: its name,
// bandwidth, encapsulation and links come from there.
func (c *checker) azurePort(t *Topology, ra *rawAzure, a *Azure) *Azure {
	ep := t.ExpressRoutePorts[0]
	if ra.Port != "" {
		ep = nil
		for _, p := range t.ExpressRoutePorts {
			if p.Name == ra.Port {
				ep = p
			}
		}
		if ep == nil {
			c.problem("azure.port", "%q is not one of the lab's expressRoutePorts", ra.Port)
			return a
		}
	}
	if ra.BandwidthInGbps != nil || len(ra.Links) > 0 {
		c.problem("azure", "the lab's port %s has its bandwidth and links in expressRoutePorts: give the azure block neither", ep.Name)
	}
	a.Port, a.BandwidthInGbps, a.Encapsulation = ep.Name, ep.BandwidthGbps, ep.Encapsulation
	c.azureNames(a)
	for _, name := range ep.Links {
		if l := t.Link(name); l != nil {
			a.Links = append(a.Links, AzureLink{Link: name, Edge: l.Ends[microsoftEnd(t, l)].Node})
		}
	}
	return a
}

// azureNames fills in and checks the names of the Azure resources.
func (c *checker) azureNames(a *Azure) {
	for _, f := range []struct{ field, v string }{{"port", a.Port}, {"resourceGroup", a.ResourceGroup}, {"identity", a.Identity}} {
		if !azureName.MatchString(f.v) {
			c.problem("azure."+f.field, "%q is not an Azure resource name: 1 to 80 letters, digits, '.', '-' and '_', not ending in '.' or '-'", f.v)
		}
	}
	if !azureVaultName.MatchString(a.Vault) {
		c.problem("azure.vault", "%q is not a Key Vault name: 3 to 24 letters, digits and '-', starting with a letter and ending with a letter or digit", a.Vault)
	}
}

func (c *checker) problem(path, format string, args ...any) {
	if c.Doc == nil {
		c.plain = append(c.plain, path+": "+fmt.Sprintf(format, args...))
		return
	}
	c.Errorf(path, format, args...)
}

// msEdgeNode is the end of l whose node runs BGP as the Microsoft edge,
// or "".
func msEdgeNode(t *Topology, l *Link) string {
	for _, e := range l.Ends {
		if n := t.Node(e.Node); n != nil && n.BGP != nil && n.BGP.Profile == BGPMicrosoftEdge {
			return n.Name
		}
	}
	return ""
}

func directLink(t *Topology, l *Link) bool {
	for _, e := range l.Ends {
		n := t.Node(e.Node)
		if n == nil {
			return false
		}
		if p := n.Port(e.Port); p == nil || p.Kind != PortDirect {
			return false
		}
	}
	return true
}

// AzureLinkOf returns the port's link (link1, link2) that is the lab's
// link, or "".
func (a *Azure) AzureLinkOf(link string) string {
	for i, l := range a.Links {
		if l.Link == link {
			return fmt.Sprintf("link%d", i+1)
		}
	}
	return ""
}
