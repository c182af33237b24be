package lab

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/internal/secret"
	"github.com/secylab/secylab/ipsec/strongswan"
	"github.com/secylab/secylab/lab/edgeconfig"
	"github.com/secylab/secylab/topology"
)

// testPSK is the shared key of the custom-policy topology's key file.
const testPSK = "lab-config-test-psk-0600"

// vpngwTopologies are the topologies of the IPsec exports' golden files:
// the built-in (Azure's default policy, route-based, BGP over the
// tunnels, a generated key) and one with a custom policy, policy-based
// selectors, ResponderOnly and a key file.
var vpngwTopologies = map[string]func(t *testing.T) *topology.Topology{
	"vpngw": func(t *testing.T) *topology.Topology {
		topo, err := topology.Builtin("expressroute-vpngw")
		if err != nil {
			t.Fatal(err)
		}
		return topo
	},
	"vpngw-custom": func(t *testing.T) *topology.Topology {
		return customPolicyTopology(t, `    ipsecPolicies:
      - {saLifeTimeSeconds: 3600, saDataSizeKilobytes: 1024000, ipsecEncryption: AES256, ipsecIntegrity: SHA256, ikeEncryption: AES256, ikeIntegrity: SHA384, dhGroup: ECP384, pfsGroup: ECP384}
    usePolicyBasedTrafficSelectors: true
    connectionMode: ResponderOnly
`)
	},
}

// customPolicyTopology is the built-in expressroute-vpngw with policy
// added to each tunnel and the shared key in a 0600 file.
func customPolicyTopology(t *testing.T, policy string) *topology.Topology {
	t.Helper()
	dir := t.TempDir()
	src, err := topology.BuiltinSource("expressroute-vpngw")
	if err != nil {
		t.Fatal(err)
	}
	y := strings.ReplaceAll(string(src), "    sharedKey: generate\n", "    sharedKey: psk.key\n"+policy)
	y = strings.ReplaceAll(y, "    enableBgp: true\n", "")
	y = strings.ReplaceAll(y, "    connectionMode: Default\n", "")
	y = strings.Replace(y, "    bgp:\n      asn: 65010\n      networks: [10.1.0.0/16]\n", "", 1)
	if err := os.WriteFile(filepath.Join(dir, "psk.key"), []byte(testPSK+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "vpngw.yaml")
	if err := os.WriteFile(file, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	topo, err := topology.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	topo.Source = "vpngw-custom.yaml"
	return topo
}

// TestEdgeConfigIPsecGolden compares the swanctl and libreswan exports of
// onprem-vpngw (and the secrets file they include) with golden files.
func TestEdgeConfigIPsecGolden(t *testing.T) {
	for name, topo := range vpngwTopologies {
		for _, psk := range []string{"", "/etc/swanctl/azure.secrets"} {
			n, err := EdgeConfig(topo(t), EdgeOptions{Node: "onprem-vpngw", PSKFile: psk}, expressroute.LabMKAHelloTime, expressroute.LabMKALifeTime)
			if psk != "" && name == "vpngw" {
				if err == nil || !strings.Contains(err.Error(), "tunnel s2s0: its shared key is generated when the lab starts") {
					t.Errorf("%s with a PSK file: %v", name, err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{"swanctl", "libreswan"} {
				got, err := render(n, f)
				if err != nil {
					got = "error: " + err.Error() + "\n"
				}
				if strings.Contains(got, testPSK) {
					t.Errorf("%s %s: the shared key is in the output", name, f)
				}
				suffix := ""
				if psk != "" {
					suffix = "-pskfile"
					format, _ := edgeconfig.Lookup(f)
					var b bytes.Buffer
					if err := format.Secrets(&b, n); err != nil {
						t.Fatal(err)
					}
					if !strings.Contains(b.String(), testPSK) {
						t.Errorf("%s %s: the secrets file lacks the key", name, f)
					}
					got += "---- secrets file ----\n" + strings.ReplaceAll(b.String(), testPSK, "<the key>")
				}
				golden(t, filepath.Join("testdata", "edgeconfig", name+"-onprem-vpngw"+suffix+"."+f), got)
			}
		}
	}
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	if *updateGolden {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./lab -run TestEdgeConfigIPsecGolden -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s: the export differs from the golden file (go test ./lab -run TestEdgeConfigIPsecGolden -update, then review the diff):\n%s", file, got)
	}
}

// TestEdgeConfigSwanctlLoads: charon and swanctl themselves load the
// swanctl export with its secrets file, for Azure's default policy and a
// custom one.
func TestEdgeConfigSwanctlLoads(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a scratch charon in namespaces of its own")
	}
	if _, err := os.Stat(strongswan.Charon); err != nil {
		t.Skip("strongSwan's charon is not installed (.ci/setup --tests installs it)")
	}
	for name, topo := range map[string]func(t *testing.T) *topology.Topology{
		"custom": vpngwTopologies["vpngw-custom"],
		"default": func(t *testing.T) *topology.Topology {
			return customPolicyTopology(t, "")
		},
	} {
		dir := t.TempDir()
		psk := filepath.Join(dir, "azure.secrets")
		n, err := EdgeConfig(topo(t), EdgeOptions{Node: "onprem-vpngw", PSKFile: psk}, expressroute.LabMKAHelloTime, expressroute.LabMKALifeTime)
		if err != nil {
			t.Fatal(err)
		}
		conf, err := render(n, "swanctl")
		if err != nil {
			t.Fatal(err)
		}
		f, _ := edgeconfig.Lookup("swanctl")
		if err := secret.WriteFile(psk, func(w io.Writer) error { return f.Secrets(w, n) }); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, "swanctl.conf")
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := strongswan.Check(file); err != nil {
			t.Errorf("%s: %v\n%s", name, err, conf)
		}
	}
}
