package strongswan

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/nettest"
)

// goodConf is a swanctl.conf charon accepts (ESP AES-GCM-16).
var goodConf = PSKConn{Name: "onprem", Local: "10.88.0.1", Remote: "10.88.0.2", Proposals: "aes256-sha256-modp2048",
	LocalTS: "10.1.0.0/16", RemoteTS: "10.2.0.0/16", ESPProposals: "aes256gcm16", PSK: []byte("not-printed-anywhere")}.Swanctl()

func needCharon(t *testing.T) {
	t.Helper()
	nettest.NeedRoot(t)
	if _, err := os.Stat(Charon); err != nil {
		t.Skip("strongSwan's charon is not installed (.ci/setup --tests installs it)")
	}
}

func write(t *testing.T, body string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "swanctl.conf")
	require.NoError(t, os.WriteFile(f, []byte(body), 0o600))
	return f
}

// TestCheck: charon and swanctl accept a good file and reject bad ones
// with their own words and the file's name.
func TestCheck(t *testing.T) {
	needCharon(t)
	require.NoError(t, Check(write(t, goodConf)))
	for name, body := range map[string]string{
		"syntax":   "connections {\n  onprem {\n    version = 2\n",
		"proposal": strings.Replace(goodConf, "aes256-sha256-modp2048", "aes256-sha256-modp9999", 1),
	} {
		f := write(t, body)
		err := Check(f)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), f, name)
		assert.Contains(t, err.Error(), "swanctl rejects", name)
		assert.NotContains(t, err.Error(), "not-printed-anywhere", name)
		t.Logf("%s: %v", name, err)
	}
}

// TestStartInNamespace: charon in a namespace, its own paths; swanctl
// through ExecArgv sees the loaded connection; Stop ends it.
func TestStartInNamespace(t *testing.T) {
	needCharon(t)
	ns := nettest.Namespace(t, "swst")
	dir := t.TempDir()
	d, err := Start(Config{Namespace: ns, Dir: dir, Log: filepath.Join(dir, "charon.log"), Swanctl: write(t, goodConf)})
	require.NoError(t, err)
	defer d.Stop()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, d.ExecArgv([]string{"swanctl", "--list-conns"})...)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "onprem: IKEv2")
	assert.Contains(t, string(out), "10.1.0.0/16")
	log, _ := os.ReadFile(filepath.Join(dir, "charon.log"))
	assert.Contains(t, string(log), "loaded plugins")
	assert.NotContains(t, string(log), "not-printed-anywhere")
	_, err = os.Stat("/run/charon.pid")
	assert.True(t, os.IsNotExist(err), "charon wrote the host's /run/charon.pid")
}

// TestPSKConnLoads: charon and swanctl load what PSKConn writes, with
// every optional key and without, a binary key in hex.
func TestPSKConnLoads(t *testing.T) {
	needCharon(t)
	binary := bareConn
	binary.PSK = []byte{0, 1, 0xfe, 0xff, '"'}
	for name, c := range map[string]PSKConn{"full": fullConn, "bare": bareConn, "binary key": binary} {
		assert.NoError(t, Check(write(t, c.Swanctl())), name)
	}
}
