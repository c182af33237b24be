package topology

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/netnsx"
)

// externalLab is a router whose link1 leads to an external device on the
// host interface IFACE.
const externalLab = `name: NAME
nodes:
  r:
    kind: router
    ports:
      eth1: {addresses: [10.0.1.1/24]}
  dev:
    kind: external
    ports:
      eth1: {interface: IFACE, addresses: [10.0.1.2/24]FORCE}
links:
  - name: link1
    endpoints: [r:eth1, dev:eth1]
`

// TestExternalRefusedAndForced runs in a namespace of its own standing for
// the host: an interface there that is up with an address of the host is
// refused (nothing made, the interface untouched), taken with force: true,
// and left with its address after lab down; a missing one is refused.
func TestExternalRefusedAndForced(t *testing.T) {
	needRootTest(t)
	host := "sl-h" + uniqueLab(t, "")
	require.NoError(t, exec.Command("ip", "netns", "add", host).Run())
	t.Cleanup(func() { exec.Command("ip", "netns", "del", host).Run() })
	ip := func(args ...string) string {
		out, err := exec.Command("ip", append([]string{"-n", host}, args...)...).CombinedOutput()
		require.NoError(t, err, "ip %s: %s", args, out)
		return string(out)
	}
	ip("link", "add", "ext0", "type", "veth", "peer", "name", "ext0p")
	ip("addr", "add", "198.51.100.1/24", "dev", "ext0")
	ip("link", "set", "ext0", "up")
	state := t.TempDir()
	parse := func(iface, force string) *Topology {
		s := strings.NewReplacer("NAME", uniqueLab(t, iface+force), "IFACE", iface, "FORCE", force).Replace(externalLab)
		topo, err := Parse("lab.yaml", []byte(s))
		require.NoError(t, err)
		return topo
	}
	create := func(topo *Topology) error {
		return netnsx.Do(host, func() error { return Create(context.Background(), topo, state) })
	}

	for _, iface := range []string{"ext0", "nosuch0"} {
		topo := parse(iface, "")
		err := create(topo)
		var ee *ExternalError
		require.True(t, errors.As(err, &ee), "%v", err)
		assert.Equal(t, iface, ee.Interface)
		if iface == "ext0" {
			assert.ErrorContains(t, err, "is up with addresses of this host (198.51.100.1/24)")
		} else {
			assert.ErrorContains(t, err, "not found")
		}
		_, serr := os.Stat(LabDir(state, topo.Name))
		assert.True(t, errors.Is(serr, os.ErrNotExist), "no state left")
		assert.NoFileExists(t, NamespacePath(topo.Name, "r"))
	}
	before := ip("addr", "show", "dev", "ext0")

	topo := parse("ext0", ", force: true")
	t.Cleanup(func() { _ = netnsx.Do(host, func() error { return Destroy(state, topo.Name) }) })
	require.NoError(t, create(topo))
	st, err := ReadState(state, topo.Name)
	require.NoError(t, err)
	require.Len(t, st.Externals, 1)
	assert.True(t, st.Externals[0].Done)
	assert.Equal(t, "ext0", st.Externals[0].Interface)
	assert.False(t, st.Externals[0].IPv6Silenced, "up with an address: IPv6 is the host's")
	// lab down from another namespace than the lab's host cannot restore:
	// it says so and keeps the state.
	err = Destroy(state, topo.Name)
	require.ErrorContains(t, err, "run lab down there")
	require.NoError(t, netnsx.Do(host, func() error { return Destroy(state, topo.Name) }))
	assert.Equal(t, before, ip("addr", "show", "dev", "ext0"), "addresses left alone")
}
