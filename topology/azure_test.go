package topology

import (
	"strings"
	"testing"
)

func TestDefaultAzure(t *testing.T) {
	// The built-in serves the port its expressRoutePorts declare.
	topo, err := Builtin("expressroute-direct")
	if err != nil {
		t.Fatal(err)
	}
	a, err := DefaultAzure(topo)
	if err != nil {
		t.Fatal(err)
	}
	if a.Port != "er-direct" || a.BandwidthInGbps != 100 || len(a.Links) != 2 || a.Links[1] != (AzureLink{"link2", "msee2"}) {
		t.Fatalf("from expressRoutePorts: %+v", a)
	}
	// Without expressRoutePorts the port is named for the lab.
	topo.ExpressRoutePorts = nil
	if a, err = DefaultAzure(topo); err != nil {
		t.Fatal(err)
	}
	if len(a.Links) != 2 || a.Links[0] != (AzureLink{"link1", "msee1"}) || a.Links[1] != (AzureLink{"link2", "msee2"}) {
		t.Fatalf("links %+v", a.Links)
	}
	if a.Port != "er-port" || a.Vault != "er-kv" || a.BandwidthInGbps != 100 || a.AzureLinkOf("link2") != "link2" {
		t.Fatalf("%+v", a)
	}
	// A lab without a Microsoft edge has no default.
	if _, err := DefaultAzure(&Topology{Name: "x"}); err == nil || !strings.Contains(err.Error(), "microsoft-edge") {
		t.Fatalf("no edge: %v", err)
	}
}

func TestAzureBlock(t *testing.T) {
	for _, tc := range []struct{ block, want string }{
		{"azure: {vault: er-kv, bandwidthInGbps: 10, links: [{link: link1, microsoftEdge: b}]}\n", ""},
		{"azure: {bandwidthInGbps: 40}\n", "lab.yaml:23: azure.bandwidthInGbps: 40: an ExpressRoute Direct port is 10 or 100 Gbps"},
		{"azure: {vault: kv_1, links: [{link: link1, microsoftEdge: b}]}\n", `azure.vault: "kv_1" is not a Key Vault name`},
		{"azure: {links: [{link: link9, microsoftEdge: b}]}\n", `azure.links[0].link: no link "link9" in the lab`},
		{"azure: {links: [{link: link1, microsoftEdge: c}]}\n", `azure.links[0].microsoftEdge: "c" is not an end of link link1: want a or b`},
		{"azure: {}\n", "azure.links: no Direct link of the lab ends at a Microsoft edge"},
	} {
		topo, err := Parse("lab.yaml", []byte(base+tc.block))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.block, err)
		case tc.want == "" && (topo.Azure == nil || topo.Azure.BandwidthInGbps != 10 || topo.Azure.Links[0].Edge != "b"):
			t.Errorf("%s: %+v", tc.block, topo.Azure)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %s", tc.block, err, tc.want)
		}
	}
}
