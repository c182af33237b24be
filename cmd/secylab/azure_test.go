package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/azure"
	"github.com/secylab/secylab/lab"
)

// azShell is Debian's azure-cli aimed at a lab's emulator as secylab
// azure env says, logged in as the lab's service principal.
type azShell struct {
	l     *testLab
	env   []string
	cloud azure.Cloud
}

func newAzShell(l *testLab) *azShell {
	l.t.Helper()
	if _, err := exec.LookPath("az"); err != nil {
		l.t.Skip("azure-cli is not installed (Debian package azure-cli; .ci/setup --tests installs it)")
	}
	c, err := lab.ReadAzureCloud(l.state, l.name)
	require.NoError(l.t, err)
	dir := lab.AzureDir(l.state, l.name)
	a := &azShell{l: l, cloud: c, env: []string{"PATH=" + os.Getenv("PATH"), "HOME=" + l.t.TempDir()}}
	for k, v := range azure.Env(c.Proxy, c.CACert, filepath.Join(dir, lab.AzureShimDir), filepath.Join(l.t.TempDir(), "az")) {
		a.env = append(a.env, k+"="+v)
	}
	secret, err := os.ReadFile(filepath.Join(dir, lab.AzureSecretFile))
	require.NoError(l.t, err)
	c.ClientSecret = string(secret)
	for _, args := range azure.Login(c) {
		a.must(args...)
	}
	return a
}

func (a *azShell) run(args ...string) (string, error) {
	cmd := exec.Command("az", args...)
	cmd.Env = a.env
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), &azFailure{strings.Join(args, " "), string(ee.Stderr)}
	}
	return string(out), err
}

type azFailure struct{ cmd, stderr string }

func (f *azFailure) Error() string { return "az " + f.cmd + ": " + f.stderr }

func (a *azShell) must(args ...string) string {
	a.l.t.Helper()
	out, err := a.run(args...)
	require.NoError(a.l.t, err)
	return strings.TrimSpace(out)
}

func (a *azShell) setSecret(name, value string) string {
	return a.must(azure.SecretSet(a.cloud, a.l.topoAzure().Vault, name, value)...)
}

func (l *testLab) topoAzure() *lab.AzureStatus {
	st := l.status()
	require.NotNil(l.t, st.Azure, "the lab runs no Azure emulator")
	return st.Azure
}

// edge is what a test watches of a link's end: its MKA participant (a new
// one is a re-key), its key and whether it is secured, and its cut.
type edgeState struct {
	MI      string
	CKN     string
	CAK     string
	Suite   string
	Secured bool
	Down    bool
	RxOK    uint64
}

func (l *testLab) edge(node, port string) edgeState {
	p := l.port(node, port)
	e := edgeState{Down: p.Impairment.Down, RxOK: p.Dataplane.RxFrames}
	if p.MKA != nil {
		e.MI, e.CKN, e.CAK, e.Suite, e.Secured = string(p.MKA.MI[:]), p.MKA.CKN.String(), p.MKA.CAKFingerprint, p.MKA.Suite.AzureName(), p.MKA.Secured
	}
	return e
}

// TestAzureCLIDrivesTheMicrosoftEdge: on a running lab, Debian's
// azure-cli 2.45 logs in to the lab's emulator, stores a new CKN and CAK
// and updates link1's macSecConfig: the Microsoft edge re-keys (the
// customer router keeps its key), link1 is down until the customer router
// gets the same key, and comes back; --admin-state Disabled takes it down
// at the Microsoft edge, Enabled brings it back. Bad input — a malformed
// PUT, an unknown api-version, a wrong etag, a secret the identity cannot
// read, a missing version — leaves the Microsoft edge exactly as it was.
func TestAzureCLIDrivesTheMicrosoftEdge(t *testing.T) {
	l := startLab(t, "--azure")
	az := newAzShell(l)
	// secylab azure env aims a shell at the lab, never printing the secret.
	envOut := l.mustRun("azure", "env")
	require.Contains(t, envOut, "export HTTPS_PROXY="+az.cloud.Proxy)
	require.Contains(t, envOut, "export REQUESTS_CA_BUNDLE="+az.cloud.CACert)
	require.Contains(t, envOut, `export AZURE_CLIENT_SECRET="$(cat `)
	secret, err := os.ReadFile(filepath.Join(lab.AzureDir(l.state, l.name), lab.AzureSecretFile))
	require.NoError(t, err)
	require.NotContains(t, envOut, string(secret), "azure env printed the service principal's secret")
	fi, err := os.Stat(filepath.Join(lab.AzureDir(l.state, l.name), lab.AzureSecretFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	a := l.topoAzure()
	port, rg := a.Ports[0].Name, az.cloud.ResourceGroup
	portURL := az.cloud.ResourceManager + "subscriptions/" + az.cloud.Subscription + "/resourceGroups/" + rg + "/providers/Microsoft.Network/expressRoutePorts/" + port
	before := l.edge("msee1", "er1")
	require.True(t, before.Secured)

	// Bad input.
	ckn := az.setSecret("link1-ckn", "5ec1ab5ec1ab5ec1ab5ec1ab5ec1ab5e")
	cak := az.setSecret("link1-cak", "c0ffeec0ffeec0ffeec0ffeec0ffeec0c0ffeec0ffeec0ffeec0ffeec0ffeec0")
	portJSON := az.must("rest", "--method", "get", "--url", portURL+"?api-version=2023-09-01")
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(portJSON), &body))
	links := body["properties"].(map[string]any)["links"].([]any)
	ms := links[0].(map[string]any)["properties"].(map[string]any)["macSecConfig"].(map[string]any)
	ms["cknSecretIdentifier"], ms["cakSecretIdentifier"] = ckn, cak
	edited, _ := json.Marshal(body)
	az.must("rest", "--method", "put", "--url", az.cloud.ResourceManager+"subscriptions/"+az.cloud.Subscription+"/resourceGroups/"+rg+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/other?api-version=2023-01-31", "--body", `{"location": "westus2"}`)
	body["identity"] = map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{
		"/subscriptions/" + az.cloud.Subscription + "/resourceGroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/other": map[string]any{}}}
	otherIdentity, _ := json.Marshal(body)
	for _, tc := range []struct{ what, code string }{
		{"malformed", azure.CodeInvalidRequestFormat},
		{"api-version", azure.CodeNoRegisteredProvider},
		{"etag", azure.CodePreconditionFailed},
		{"identity", azure.CodeMacSecSecret},
		{"version", azure.CodeMacSecSecret},
	} {
		var err error
		switch tc.what {
		case "malformed":
			_, err = az.run("rest", "--method", "put", "--url", portURL+"?api-version=2023-09-01", "--body", `{"properties": {"links": [`)
		case "api-version":
			_, err = az.run("rest", "--method", "put", "--url", portURL+"?api-version=2099-01-01", "--body", string(edited))
		case "etag":
			_, err = az.run("rest", "--method", "put", "--url", portURL+"?api-version=2023-09-01", "--body", string(edited), "--headers", `If-Match=W/"00000000-0000-0000-0000-000000000000"`)
		case "identity":
			_, err = az.run("rest", "--method", "put", "--url", portURL+"?api-version=2023-09-01", "--body", string(otherIdentity))
		case "version":
			_, err = az.run("network", "express-route", "port", "link", "update", "-g", rg, "--port-name", port, "-n", "link1",
				"--macsec-cak-secret-identifier", cak[:len(cak)-32]+strings.Repeat("0", 32))
		}
		require.Error(t, err, tc.what)
		require.Contains(t, err.Error(), tc.code, tc.what)
		time.Sleep(200 * time.Millisecond)
		after := l.edge("msee1", "er1")
		require.Equal(t, before.MI, after.MI, "%s: the Microsoft edge re-keyed", tc.what)
		require.Equal(t, before.CAK, after.CAK, tc.what)
		require.True(t, after.Secured && !after.Down, "%s: %+v", tc.what, after)
		require.Greater(t, after.RxOK, before.RxOK, "%s: the edge stopped receiving", tc.what)
		before = after
	}

	// The rotation, with az network express-route port link update.
	customer := l.edge("ce1", "er1")
	az.must("network", "express-route", "port", "link", "update", "-g", rg, "--port-name", port, "-n", "link1",
		"--macsec-ckn-secret-identifier", ckn, "--macsec-cak-secret-identifier", cak, "--macsec-cipher", "GcmAesXpn256", "--macsec-sci-state", "Disabled", "-o", "none")
	rekeyed := l.edge("msee1", "er1")
	require.NotEqual(t, before.MI, rekeyed.MI, "the Microsoft edge did not re-key")
	require.Equal(t, "5EC1AB5EC1AB5EC1AB5EC1AB5EC1AB5E", rekeyed.CKN)
	require.Equal(t, "GcmAesXpn256", rekeyed.Suite)
	require.Equal(t, customer.MI, l.edge("ce1", "er1").MI, "the customer router was touched")
	time.Sleep(3 * time.Second) // more than an MKA life time: still no agreement
	require.False(t, l.edge("msee1", "er1").Secured, "link1 up with different keys")
	keyFile := filepath.Join(t.TempDir(), "new.psk")
	require.NoError(t, os.WriteFile(keyFile, []byte("CKN=5ec1ab5ec1ab5ec1ab5ec1ab5ec1ab5e\nCAK=c0ffeec0ffeec0ffeec0ffeec0ffeec0c0ffeec0ffeec0ffeec0ffeec0ffeec0\n"), 0o600))
	l.mustRun("lab", "macsec", "set", "link1", "--node", "ce1", "--key-file", keyFile)
	l.eventually("link1 secured with the new key", 15*time.Second, func() bool {
		m, c := l.edge("msee1", "er1"), l.edge("ce1", "er1")
		return m.Secured && c.Secured && m.CAK == c.CAK
	})
	out := az.must("network", "express-route", "port", "link", "show", "-g", rg, "--port-name", port, "-n", "link1", "--query", "macSecConfig.cakSecretIdentifier", "-o", "tsv")
	require.Equal(t, cak, out)

	// adminState.
	az.must("network", "express-route", "port", "link", "update", "-g", rg, "--port-name", port, "-n", "link1", "--admin-state", "Disabled", "-o", "none")
	require.True(t, l.edge("msee1", "er1").Down, "adminState Disabled: link1 still up at the Microsoft edge")
	l.eventually("MKA lost on link1", 10*time.Second, func() bool { return !l.edge("ce1", "er1").Secured })
	az.must("network", "express-route", "port", "link", "update", "-g", rg, "--port-name", port, "-n", "link1", "--admin-state", "Enabled", "-o", "none")
	l.eventually("link1 back", 15*time.Second, func() bool { e := l.edge("msee1", "er1"); return !e.Down && e.Secured })
	out, _, _ = l.run("lab", "status")
	require.Contains(t, out, "/link1-cak/"+cak[strings.LastIndex(cak, "/")+1:], "lab status shows link1's CAK secret version")
}

// TestLabRunUserScriptAgainstAzure: a scenario's exec step on the host runs
// the user's own azure-cli script against the lab's emulator; its Azure
// calls are on the report's timeline, and the Microsoft edge followed.
func TestLabRunUserScriptAgainstAzure(t *testing.T) {
	if _, err := exec.LookPath("az"); err != nil {
		t.Skip("azure-cli is not installed (Debian package azure-cli; .ci/setup --tests installs it)")
	}
	dir := t.TempDir()
	env := []string{"SECYLAB_STATE_DIR=" + filepath.Join(dir, "state")}
	file, err := filepath.Abs("../../scenario/testdata/azure-script/rotate-with-script.yaml")
	require.NoError(t, err)
	out, errOut, status := runBin(t, env, "lab", "run", file, "--name", "azs", "--out", filepath.Join(dir, "r"))
	require.Zero(t, status, "%s\n%s", out, errOut)
	b, err := os.ReadFile(filepath.Join(dir, "r", "azscript", "report.json"))
	require.NoError(t, err)
	var rep struct {
		Events []struct{ Kind, Text string }
	}
	require.NoError(t, json.Unmarshal(b, &rep))
	var calls []string
	for _, e := range rep.Events {
		if e.Kind == "azure" {
			calls = append(calls, e.Text)
		}
	}
	joined := strings.Join(calls, "\n")
	require.Contains(t, joined, "PUT Microsoft.Network/ExpressRoutePorts/er-direct?api-version=2022-01-01 → 200", "az's PUT on the timeline")
	require.Contains(t, joined, "Succeeded: the Microsoft edge runs 1 changed link(s)")
	require.Contains(t, joined, "PUT keyvault er-kv/secrets/link1-cak → 200", "the keyVault step's secret on the timeline")
}
