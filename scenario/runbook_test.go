package scenario

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/topology"
)

// TestTrafficShowsTheDrain: in the flagship run's report, the links'
// traffic (sampled from the ports' counters) moves off link1 while it is
// drained and back after the undrain; the same for link2.
func TestTrafficShowsTheDrain(t *testing.T) {
	rep := realReport(t)
	require.Len(t, rep.Traffic, 2)
	require.Len(t, rep.Spans, 2, "link1 and link2 drained")
	links := []string{"link1", "link2"}
	for _, sp := range rep.Spans {
		other := "link2"
		if sp.Link == "link2" {
			other = "link1"
		}
		before, _ := shares(rep.Traffic, sp.From-1, sp.From, links)
		during, _ := shares(rep.Traffic, sp.From+0.5, sp.To, links)
		after, _ := shares(rep.Traffic, sp.To+0.5, sp.To+1.5, links)
		require.Greater(t, before["link1"], 0.8, "%s: before, link1 carries the traffic", sp.Label())
		require.Less(t, during[sp.Link], 0.1, "%s: while drained it carries almost nothing", sp.Label())
		require.Greater(t, during[other], 0.9, "%s: the other link carries it", sp.Label())
		require.Greater(t, after["link1"], 0.8, "%s: after the undrain link1 carries it again", sp.Label())
	}
}

// TestRunbookOfRotateCAK builds the runbook of the built-in rotate-cak from
// its real report: the recommended phase, one link at a time, Azure's
// commands with the user's names, the router changes, and the lab's
// measurements in the checks.
func TestRunbookOfRotateCAK(t *testing.T) {
	sc, err := Builtin("rotate-cak")
	require.NoError(t, err)
	rep := realReport(t)
	rb := buildRunbook(sc, rep, AzureNames{ResourceGroup: "rg-er", Port: "er-direct-ams"})
	require.Equal(t, "recommended", rb.Phase)
	var sb strings.Builder
	rb.WriteText(&sb)
	text := sb.String()
	t.Log(text)
	require.Contains(t, text, "RG=rg-er")
	require.Contains(t, text, "PORT=er-direct-ams")
	require.Contains(t, text, "VAULT='<key-vault>'", "a name not given stays a placeholder")
	require.Contains(t, text, "CIRCUIT=er-circuit", "the built-in's circuit, from its expressRoutePorts")
	for _, pt := range []string{"AzurePrivatePeering", "MicrosoftPeering"} {
		require.Contains(t, text, `az network express-route list-route-tables -g "$RG" -n "$CIRCUIT" --peering-name `+pt+" --path primary -o table", "the route tables of both peerings")
	}
	require.NotContains(t, text, "cak-2", "the naive phase is not the procedure")

	var titles []string
	for _, s := range rb.Steps {
		titles = append(titles, s.Title)
	}
	order := []string{"Drain link1", `Set the CAK/CKN "cak-3" on link1`, "Check: MKA secured on link1", "Check: BGP Established over link1", "Undrain link1",
		"Drain link2", `Set the CAK/CKN "cak-3" on link2`, "Check: MKA secured on link2", "Check: BGP Established over link2", "Undrain link2"}
	at := 0
	for _, want := range order {
		for at < len(titles) && titles[at] != want {
			at++
		}
		require.Less(t, at, len(titles), "step %q in order among %q", want, titles)
	}
	step := func(title string, n int) RunbookStep {
		for _, s := range rb.Steps {
			if s.Title == title {
				if n == 0 {
					return s
				}
				n--
			}
		}
		t.Fatalf("no step %q", title)
		return RunbookStep{}
	}
	cmds := func(s RunbookStep, tool string) string {
		var out []string
		for _, c := range s.Commands {
			if c.Tool == tool {
				out = append(out, c.Text)
			}
		}
		return strings.Join(out, "\n")
	}
	// Microsoft's end first, through Key Vault and the port's link.
	l1 := step(`Set the CAK/CKN "cak-3" on link1`, 0)
	require.Equal(t, "Azure", l1.Where)
	az := cmds(l1, "az")
	require.Contains(t, az, `az keyvault secret set --vault-name "$VAULT" -n cak-3-ckn --value "$CKN"`)
	require.Contains(t, az, `az network express-route port link update -g "$RG" --port-name "$PORT" -n link1`)
	require.Contains(t, az, "--macsec-cipher GcmAesXpn256")
	require.Contains(t, az, "--macsec-sci-state Disabled")
	require.Contains(t, az, "--macsec-cak-secret-identifier")
	ps := cmds(l1, "PowerShell")
	require.Contains(t, ps, "$port.Links[0].MacSecConfig.CakSecretIdentifier = $cak.Id")
	require.Contains(t, ps, "Set-AzExpressRoutePort -ExpressRoutePort $port")
	// The same key on link2: not stored again, link2 is Links[1].
	l2 := step(`Set the CAK/CKN "cak-3" on link2`, 0)
	require.NotContains(t, cmds(l2, "az"), "secret set", "the key is in Key Vault already")
	require.Contains(t, cmds(l2, "PowerShell"), "$port.Links[1].MacSecConfig")
	// Then the customer router.
	r1 := step(`Set the CAK/CKN "cak-3" on link1`, 1)
	require.Equal(t, "router ce1", r1.Where)
	require.Contains(t, cmds(r1, "router"), "secylab lab config ce1")
	// Checks carry what the lab measured and production's timers.
	mka := step("Check: MKA secured on link1", 0)
	require.Contains(t, mka.Lab, "in the lab: after ")
	require.Contains(t, mka.Prod, "production MKA hello 2 s (lab 1 s)")
	bgp := step("Check: BGP Established over link1", 0)
	require.Contains(t, cmds(bgp, "az"), "az network express-route list-route-tables")
	require.Contains(t, cmds(bgp, "PowerShell"), "-DevicePath Primary")
	require.Contains(t, bgp.Prod, "production hold time 3 min (lab 9 s)")
	drain := step("Drain link1", 0)
	require.Regexp(t, `before: link1 (9[0-9]|100) %.*later: link1 [0-9] % .*link2 (9[0-9]|100) %`, drain.Lab, "the lab saw the traffic move to link2")
	undrain := step("Undrain link1", 0)
	require.Regexp(t, `later: link1 (9[0-9]|100) %`, undrain.Lab, "and back to link1")
}

// TestRunbookOfAzureSteps: a scenario that rotates through the lab's Azure
// control plane (keyVault and azure steps) gets those calls as its
// commands, with the names of the topology's azure block (not the lab's
// defaults).
func TestRunbookOfAzureSteps(t *testing.T) {
	dir := t.TempDir()
	topo, err := topology.BuiltinSource("expressroute-direct")
	require.NoError(t, err)
	// The azure block's port is one of the lab's expressRoutePorts.
	topo = bytes.Replace(topo, []byte("  - name: er-direct\n"), []byte("  - name: er-direct-ams\n"), 1)
	topo = append(topo, []byte("azure: {resourceGroup: rg-er-prod, port: er-direct-ams, vault: kv-er-macsec}\n")...)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "topo.yaml"), topo, 0o644))
	sc, err := Parse(filepath.Join(dir, "sc.yaml"), []byte(`name: azure-rotate
title: t
topology: topo.yaml
steps:
  - note: recommended
  - drain: link1
  - keyVault: {ckn: link1-ckn, cak: link1-cak, key: "generate:k2"}
  - azure: {link: link1, cknSecret: link1-ckn, cakSecret: link1-cak, cipher: GcmAesXpn256, sciState: Disabled}
  - macsec: {link: link1, node: ce1, key: "generate:k2"}
  - waitFor: {mka: {link: link1, secured: true}, timeout: 15s}
  - undrain: link1
assert:
  - {mka: {link: link1, secured: true}}
`))
	require.NoError(t, err)
	rb := buildRunbook(sc, &Report{}, AzureNames{})
	var sb strings.Builder
	rb.WriteText(&sb)
	text := sb.String()
	require.Contains(t, text, "RG=rg-er-prod")
	require.Contains(t, text, "PORT=er-direct-ams")
	require.Contains(t, text, "VAULT=kv-er-macsec")
	require.Contains(t, text, `az keyvault secret set --vault-name "$VAULT" -n link1-ckn --value "$CKN"`)
	require.Contains(t, text, `az network express-route port link update -g "$RG" --port-name "$PORT" -n link1`)
	require.Contains(t, text, `--macsec-cak-secret-identifier "$(az keyvault secret show --vault-name "$VAULT" -n link1-cak --query id -o tsv)"`)
	require.Contains(t, text, "$port.Links[0].MacSecConfig.CknSecretIdentifier = (Get-AzKeyVaultSecret -VaultName $VAULT -Name link1-ckn).Id")
	require.Contains(t, text, "Set-AzExpressRoutePort -ExpressRoutePort $port")
	require.Contains(t, text, "secylab lab config ce1")
}

// TestRunbookRouterConfig: with a router format the customer router's step
// carries lab config's export of that link, with production's MKA timers
// and the keys as placeholders.
func TestRunbookRouterConfig(t *testing.T) {
	sc, err := Builtin("rotate-cak")
	require.NoError(t, err)
	rb := buildRunbook(sc, realReport(t), AzureNames{RouterFormat: "junos"})
	var cfg []string
	for _, s := range rb.Steps {
		for _, c := range s.Commands {
			if c.Tool == "junos" {
				require.Contains(t, []string{"router ce1", "router ce2"}, s.Where, "only the customer routers' steps")
				cfg = append(cfg, c.Text)
			}
		}
	}
	if len(cfg) == 0 {
		t.Fatal("no junos configuration in the runbook")
	}
	require.Contains(t, cfg[0], "set security macsec connectivity-association CA-LINK1 cipher-suite gcm-aes-xpn-256")
	require.Contains(t, cfg[0], "<CKN>", "keys are placeholders")
	require.Contains(t, cfg[0], "life 6s", "production's MKA timers")
	require.NotContains(t, cfg[0], "CA-LINK2", "only the link the step changes")
	require.Len(t, cfg, 2, "ce1's link1, then ce2's link2")
	require.Contains(t, cfg[1], "set security macsec interfaces er2 connectivity-association CA-LINK2")
}
