package azure

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// azCLI runs Debian's azure-cli against an emulator: a shell aimed at it
// the way secylab azure env prints.
type azCLI struct {
	t   *testing.T
	env []string
}

func newAzCLI(t *testing.T, e *Emulator, proxy string) *azCLI {
	t.Helper()
	if _, err := exec.LookPath("az"); err != nil {
		t.Skip("azure-cli is not installed (Debian package azure-cli; .ci/setup --tests installs it)")
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, e.CA().CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	if err := WriteShim(filepath.Join(dir, "py")); err != nil {
		t.Fatal(err)
	}
	for k, v := range Env(proxy, ca, filepath.Join(dir, "py"), filepath.Join(dir, "az")) {
		env = append(env, k+"="+v)
	}
	return &azCLI{t: t, env: env}
}

// run runs az with args and returns its standard output; failing says
// its standard error.
func (a *azCLI) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "az", args...)
	cmd.Env = a.env
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), &azError{args: args, err: err, stderr: errb.String()}
	}
	return out.String(), nil
}

type azError struct {
	args   []string
	err    error
	stderr string
}

func (e *azError) Error() string {
	return "az " + strings.Join(e.args, " ") + ": " + e.err.Error() + ": " + e.stderr
}

func (a *azCLI) must(ctx context.Context, args ...string) string {
	a.t.Helper()
	out, err := a.run(ctx, args...)
	if err != nil {
		a.t.Fatal(err)
	}
	return out
}

// TestAzureCLI drives the emulator with Debian's azure-cli 2.45: cloud
// register, service-principal login, new secret versions, a link's
// macSecConfig and adminState through "az network express-route port link
// update", a refusal with Azure's code.
func TestAzureCLI(t *testing.T) {
	f := newFixture(t)
	ctx := f.ctx
	az := newAzCLI(t, f.e, f.proxy)
	c := f.e.Cloud()
	for _, args := range Login(c) {
		az.must(ctx, args...)
	}
	var acct struct{ ID, TenantID string }
	json.Unmarshal([]byte(az.must(ctx, "account", "show", "-o", "json")), &acct)
	if acct.ID != c.Subscription {
		t.Fatalf("account %+v", acct)
	}
	// Debian's azure-cli 2.45 lacks the legacy Key Vault SDK that its
	// "az keyvault secret" commands load (azure.keyvault.v7_0): az rest
	// makes the same Key Vault call.
	_, err := az.run(ctx, "keyvault", "secret", "set", "--vault-name", "er-kv", "-n", "x", "--value", "00")
	if err == nil || !strings.Contains(err.Error(), "azure.keyvault.v7_0") {
		t.Logf("az keyvault secret set: %v", err)
	}
	set := func(name, value string) string {
		return strings.TrimSpace(az.must(ctx, SecretSet(c, "er-kv", name, value)...))
	}
	ckn, cak := set("link1-ckn", testCKN), set("link1-cak", testCAK)
	if _, err := f.put(t, f.ports, f.ctx, "er-port", newPort(f.identity("er-identity"), 100, macsecConfig(ckn, cak, "GcmAes256"))); err != nil {
		t.Fatal(err)
	}
	ckn2, cak2 := set("link1-ckn", "abcd"), set("link1-cak", "0123456789abcdef0123456789abcdef")
	az.must(ctx, "network", "express-route", "port", "link", "update", "-g", c.ResourceGroup, "--port-name", "er-port", "-n", "link1",
		"--macsec-ckn-secret-identifier", ckn2, "--macsec-cak-secret-identifier", cak2, "--macsec-cipher", "GcmAesXpn256", "--macsec-sci-state", "Disabled")
	if n := f.edge.count(); n != 2 {
		t.Fatalf("edge after az: %d changes", n)
	}
	if ch, k := f.edge.change(1); ch.MACsec.CAKSecretID != cak2 || ch.MACsec.Cipher.AzureName() != "GcmAesXpn256" || k.CAKDigits != 32 {
		t.Fatalf("edge after az: %+v", ch)
	}
	out := az.must(ctx, "network", "express-route", "port", "link", "show", "-g", c.ResourceGroup, "--port-name", "er-port", "-n", "link1", "-o", "json")
	if !strings.Contains(out, cak2) {
		t.Fatalf("link show: %s", out)
	}
	_, err = az.run(ctx, "network", "express-route", "port", "link", "update", "-g", c.ResourceGroup, "--port-name", "er-port", "-n", "link1",
		"--macsec-cak-secret-identifier", strings.TrimSuffix(cak2, cak2[len(cak2)-4:])+"0000")
	if err == nil || !strings.Contains(err.Error(), CodeMacSecSecret) {
		t.Fatalf("a missing version: %v", err)
	}
	az.must(ctx, "network", "express-route", "port", "link", "update", "-g", c.ResourceGroup, "--port-name", "er-port", "-n", "link1", "--admin-state", "Disabled")
	if n := f.edge.count(); n != 3 {
		t.Fatalf("edge after --admin-state Disabled: %d changes", n)
	}
	if ch, _ := f.edge.change(2); ch.AdminEnabled {
		t.Fatalf("edge after --admin-state Disabled: %+v", ch)
	}

	// A list longer than a page (the fixture's is 1) and a delete: az
	// follows nextLink and polls the delete's Azure-AsyncOperation.
	if _, err := f.put(t, f.ports, f.ctx, "spare-port", newPort(f.identity("er-identity"), 10, nil)); err != nil {
		t.Fatal(err)
	}
	list := func() string {
		var ps []struct{ Name string }
		json.Unmarshal([]byte(az.must(ctx, "network", "express-route", "port", "list", "-g", c.ResourceGroup, "-o", "json")), &ps)
		var names []string
		for _, p := range ps {
			names = append(names, p.Name)
		}
		return strings.Join(names, ",")
	}
	if got := list(); got != "er-port,spare-port" {
		t.Fatalf("az port list: %q", got)
	}
	az.must(ctx, "network", "express-route", "port", "delete", "-g", c.ResourceGroup, "-n", "spare-port")
	if got := list(); got != "er-port" {
		t.Fatalf("az port list after delete: %q", got)
	}
}
