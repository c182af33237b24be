package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/scenario"
	"github.com/secylab/secylab/topology"
)

// runIn runs the secylab binary inside the network namespace ns (a
// "host") and returns its exit status.
func runIn(t *testing.T, ns string, env []string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	return runCmd(t, exec.Command("ip", append([]string{"netns", "exec", ns, secylabBin}, args...)...), env)
}

// writeHexKey writes n random octets as hex to a 0600 file.
func writeHexKey(t *testing.T, dir, name string, n int) string {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(hex.EncodeToString(b)+"\n"), 0o600))
	return path
}

// TestLabRunAcrossHosts: the built-in rotate-cak exercise run by lab run
// across two "hosts" (network namespaces on an underlay veth): the
// Microsoft half brought up on ms with lab up --host ms --control-key,
// lab run on cust bringing up the customer's half and driving the far one
// over its TLS control endpoint. Every assertion of the exercise holds, as
// on one host; the report lists both halves; tshark on the underlay sees
// VXLAN carrying only MACsec and MKA, and the control connection only as
// TLS. Before the far half is up, and with another control key, lab run
// refuses without building anything.
func TestLabRunAcrossHosts(t *testing.T) {
	nettest.NeedRoot(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("needs tshark (.ci/setup --tests)")
	}
	dir := t.TempDir()
	hms, hcu := nettest.Namespace(t, "hms"), nettest.Namespace(t, "hcu")
	nettest.Wire(t, hms, hcu, "ul", 1600)
	nettest.Run(t, "ip", "-n", hms, "addr", "add", "10.77.0.1/24", "dev", "ul")
	nettest.Run(t, "ip", "-n", hcu, "addr", "add", "10.77.0.2/24", "dev", "ul")

	macsecKey := filepath.Join(dir, "er.key")
	cak, ckn := make([]byte, 32), make([]byte, 32)
	rand.Read(cak)
	rand.Read(ckn)
	require.NoError(t, os.WriteFile(macsecKey, []byte("CKN="+hex.EncodeToString(ckn)+"\nCAK="+hex.EncodeToString(cak)+"\n"), 0o600))
	data, err := os.ReadFile(filepath.Join("..", "..", "lab", "testdata", "er-two-hosts.yaml"))
	require.NoError(t, err)
	topo := filepath.Join(dir, "er-two-hosts.yaml")
	require.NoError(t, os.WriteFile(topo, []byte(strings.ReplaceAll(string(data), "secret: KEY", "secret: "+macsecKey)), 0o644))
	ctlKey := writeHexKey(t, dir, "ctl.key", 32)
	otherKey := writeHexKey(t, dir, "other.key", 32)

	msEnv := []string{"SECYLAB_STATE_DIR=" + filepath.Join(dir, "state-ms")}
	cuEnv := []string{"SECYLAB_STATE_DIR=" + filepath.Join(dir, "state-cust")}
	name := "x" + nettest.UniqueID()
	if len(name) > 8 {
		name = name[:8]
	}
	run := func(out string, key string) (string, string, int) {
		return runIn(t, hcu, cuEnv, "lab", "run", "rotate-cak", "--topology", topo, "--host", "cust", "--control-key", key, "--out", filepath.Join(dir, out))
	}

	t0 := time.Now()
	defer func() { t.Logf("the whole test: %v", time.Since(t0).Round(time.Second)) }()
	// No far half yet: refused, nothing built.
	_, errOut, status := run("absent", ctlKey)
	require.Equal(t, 1, status, errOut)
	assert.Contains(t, errOut, "host ms: the far half does not answer at 10.77.0.1:7400")
	assert.Contains(t, errOut, "secylab lab up FILE --host ms --control-key KEYFILE")
	var absent scenario.Report
	require.NoError(t, json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "absent", "rotate-cak", "report.json"))), &absent))
	assert.Empty(t, absent.Lab, "nothing built")
	assert.Contains(t, absent.Error, "the far half does not answer")

	out, errOut, status := runIn(t, hms, msEnv, "lab", "up", topo, "--host", "ms", "--name", name, "--control-key", ctlKey, "--mka-hello", "1s", "--mka-life", "3s", "--wait", "0")
	require.Zero(t, status, "%s\n%s", out, errOut)
	t.Cleanup(func() { runIn(t, hms, msEnv, "lab", "down", name) })
	assert.Contains(t, out, "remote control endpoint on 10.77.0.1:7400 (TLS, control key ")
	assert.NotContains(t, out+errOut, strings.TrimSpace(readFile(t, ctlKey)), "the control key is never printed")

	t.Logf("refused without the far half, far half up: %v", time.Since(t0).Round(100*time.Millisecond))
	// Another key: the endpoint is not this lab's.
	_, errOut, status = run("wrongkey", otherKey)
	require.Equal(t, 1, status, errOut)
	assert.Contains(t, errOut, "the endpoint does not hold this lab's control key")

	t.Logf("refused with another key: %v", time.Since(t0).Round(100*time.Millisecond))
	// The underlay from here on. The bulk flow puts a million and a half
	// frames into VXLAN, too many to read back in seconds: the kernel's
	// filter keeps every VXLAN frame whose inner EtherType (UDP payload
	// octets 20-21, after VXLAN's 8 and the inner MACs) is not MACsec,
	// which must all be MKA; a sample of the first 200 shows the MACsec;
	// and the control connections.
	pcaps := map[string]string{
		"udp port 4789 and udp[28:2] != 0x88e5": filepath.Join(dir, "vxlan-not-macsec.pcap"),
		"udp port 4789":                         filepath.Join(dir, "vxlan-sample.pcap"),
		"tcp port 7400":                         filepath.Join(dir, "control.pcap"),
	}
	var dumps []*exec.Cmd
	for filter, pcap := range pcaps {
		args := []string{"netns", "exec", hms, "tshark", "-q", "-i", "ul", "-f", filter, "-w", pcap}
		if filter == "udp port 4789" {
			args = append(args, "-c", "200")
		}
		dump := exec.Command("ip", args...)
		require.NoError(t, dump.Start())
		t.Cleanup(func() { _ = dump.Process.Kill(); _ = dump.Wait() })
		require.Eventually(t, func() bool { st, err := os.Stat(pcap); return err == nil && st.Size() > 0 }, 10*time.Second, 50*time.Millisecond)
		dumps = append(dumps, dump)
	}
	start := time.Now()
	out, errOut, status = run("reports", ctlKey)
	require.Zero(t, status, "%s\n%s", out, errOut)
	t.Logf("lab run rotate-cak across two hosts: %v\n%s", time.Since(start).Round(time.Second), out)

	var rep scenario.Report
	require.NoError(t, json.Unmarshal([]byte(readFile(t, filepath.Join(dir, "reports", "rotate-cak", "report.json"))), &rep))
	require.True(t, rep.Passed, rep.Error)
	// The exercise's own assertions, as on one host: none left out.
	one, err := scenario.Builtin("rotate-cak")
	require.NoError(t, err)
	want := len(one.Assert)
	for _, st := range one.Steps {
		if st.WaitFor != nil || st.Exec != nil && (st.Exec.Expect != "" || st.Exec.ExitCode != nil) {
			want++
		}
	}
	assert.Len(t, rep.Assertions, want)
	var texts []string
	for _, a := range rep.Assertions {
		texts = append(texts, a.Text)
		assert.True(t, a.Passed, "%s: %s", a.Text, a.Detail)
	}
	assert.Contains(t, texts, "onprem-vnet during recommended: at most 0 packets lost")
	require.Len(t, rep.Hosts, 2)
	assert.Equal(t, "cust", rep.Hosts[0].Host)
	assert.Equal(t, []string{"ce1", "ce2", "onprem-host"}, rep.Hosts[0].Nodes)
	assert.Equal(t, "ms", rep.Hosts[1].Host)
	assert.Equal(t, name, rep.Hosts[1].Lab)
	assert.Equal(t, "10.77.0.1:7400", rep.Hosts[1].Endpoint)
	assert.Equal(t, []string{"msee1", "msee2", "vnet-host"}, rep.Hosts[1].Nodes)
	assert.Contains(t, out, "host ms         lab "+name)
	for _, p := range rep.Probes {
		if p.Name == "onprem-vnet" {
			assert.Equal(t, "onprem-host→vnet-host", p.Flows[0].Name)
			assert.NotZero(t, p.Flows[0].Received, "datagrams reached the far half")
			assert.NotZero(t, p.Flows[1].Received, "and came back from it")
		}
	}
	require.Len(t, rep.Bulk, 1)
	assert.NotZero(t, rep.Bulk[0].Bytes, "the bulk flow crossed to the far half")

	// The underlay: VXLAN carries MACsec and MKA only; the control
	// connection is TLS, no operation in clear.
	for _, d := range dumps {
		_ = d.Process.Signal(os.Interrupt) // the sample's has ended by itself
		_ = d.Wait()
	}
	tshark := func(pcap string, args ...string) string {
		out, err := exec.Command("tshark", append([]string{"-n", "-r", pcap, "-d", "udp.port==4789,vxlan", "-d", "tcp.port==7400,tls"}, args...)...).Output()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	innerTypes := func(pcap string) map[string]int {
		inner := map[string]int{}
		for _, line := range strings.Split(tshark(pcap, "-Y", "vxlan", "-T", "fields", "-e", "eth.type"), "\n") {
			types := strings.Split(line, ",")
			inner[types[len(types)-1]]++
		}
		return inner
	}
	notMACsec, sample := innerTypes(pcaps["udp port 4789 and udp[28:2] != 0x88e5"]), innerTypes(pcaps["udp port 4789"])
	t.Logf("VXLAN on the underlay: every frame not MACsec, by inner EtherType: %v; the first 200: %v", notMACsec, sample)
	assert.NotZero(t, notMACsec["0x888e"])
	assert.Len(t, notMACsec, 1, "inside VXLAN, besides MACsec only MKA")
	assert.NotZero(t, sample["0x88e5"])
	for et := range sample {
		assert.Contains(t, []string{"0x88e5", "0x888e"}, et, "only MACsec and MKA inside VXLAN")
	}
	hellos := tshark(pcaps["tcp port 7400"], "-Y", "tcp.port==7400 && tls.handshake.type==1", "-T", "fields", "-e", "tls.handshake.extensions.supported_version")
	assert.NotEmpty(t, hellos, "the control connections open with TLS")
	assert.Contains(t, hellos, "0x0304", "TLS 1.3")
	assert.Empty(t, tshark(pcaps["tcp port 7400"], "-Y", `frame contains "kind"`), "no operation crosses in clear")
	t.Logf("control connections (TLS client hellos): %d", len(strings.Split(hellos, "\n")))

	t.Logf("underlay read: %v", time.Since(t0).Round(100*time.Millisecond))
	// The far half was put back as the topology has it: a second run
	// starts from the topology's key.
	st, errOut, status := runIn(t, hms, msEnv, "lab", "macsec", "--lab", name)
	require.Zero(t, status, errOut)
	assert.Equal(t, 2, strings.Count(st, "CKN "+strings.ToUpper(hex.EncodeToString(ckn))+","), "msee1 and msee2 on the topology's key again: %s", st)
	assert.NotContains(t, nettest.Run(t, "ip", "netns", "list"), topology.NamespaceName(rep.Lab, "ce1"), "lab run removed its half")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}
