package main

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/secylab/secylab/internal/netnsx"
	"github.com/secylab/secylab/internal/nettest"
	"github.com/secylab/secylab/lab"
	"github.com/secylab/secylab/macsec"
)

// clabTopo is what containerlab reads of an exported topology.
type clabTopo struct {
	Name     string `yaml:"name"`
	Topology struct {
		Nodes map[string]struct {
			Image string   `yaml:"image"`
			Binds []string `yaml:"binds"`
			Exec  []string `yaml:"exec"`
		} `yaml:"nodes"`
		Links []struct {
			Endpoints []string `yaml:"endpoints"`
		} `yaml:"links"`
	} `yaml:"topology"`
}

// TestLabExportContainerlabRuns does what containerlab would do with lab
// export's output of the built-in lab, without docker: a network
// namespace per node (its container), a veth pair per link named as its
// endpoints say (MTU 9500, containerlab's default), and each node's exec
// run in its namespace: the hosts' ip commands, and on each secylab node
// (the MACsec ends ce1, ce2, msee1, msee2) secylab lab up of its own lab,
// its binds' files read where they are, its state directory its own (as a
// container's /run). MKA secures link1 and link2 across the separate labs
// with the topology's cipher and the key files the export wrote, BGP is
// Established with BFD, on-premises pings the VNet through ce1 and msee1,
// and link1's veth carries only MACsec and MKA (an AF_PACKET socket on
// it sees every frame both ways). lab down of each leaves no namespace.
func TestLabExportContainerlabRuns(t *testing.T) {
	nettest.NeedRoot(t)
	t0 := time.Now()
	name := "k" + nettest.UniqueID()
	if len(name) > 8 {
		name = name[:8]
	}
	dir := t.TempDir()
	out, err := runCLI(t, "", "lab", "export", "expressroute-direct", "--name", name, "--dir", dir, "--write-keys")
	require.NoError(t, err, out)
	var clab clabTopo
	require.NoError(t, yaml.Unmarshal([]byte(readFile(t, filepath.Join(dir, name+".clab.yml"))), &clab))
	require.Equal(t, name, clab.Name)

	nodes := make([]string, 0, len(clab.Topology.Nodes))
	ns := map[string]string{}
	for n := range clab.Topology.Nodes {
		nodes = append(nodes, n)
		ns[n] = nettest.Namespace(t, "clab-"+n)
	}
	sort.Strings(nodes)
	for _, l := range clab.Topology.Links {
		require.Len(t, l.Endpoints, 2)
		a, ia, _ := strings.Cut(l.Endpoints[0], ":")
		b, ib, _ := strings.Cut(l.Endpoints[1], ":")
		require.Contains(t, ns, a)
		require.Contains(t, ns, b)
		nettest.Run(t, "ip", "link", "add", ia, "netns", ns[a], "mtu", "9500", "type", "veth", "peer", "name", ib, "netns", ns[b], "mtu", "9500")
		nettest.Run(t, "ip", "-n", ns[a], "link", "set", ia, "up")
		nettest.Run(t, "ip", "-n", ns[b], "link", "set", ib, "up")
	}

	stateDir := func(node string) string { return filepath.Join(dir, "run-"+node) }
	var secylabNodes []string
	for _, n := range nodes {
		cn := clab.Topology.Nodes[n]
		if cn.Image != lab.ClabSecylabImage {
			for _, c := range cn.Exec {
				nettest.Run(t, "ip", "netns", "exec", ns[n], "sh", "-c", c)
			}
			continue
		}
		secylabNodes = append(secylabNodes, n)
		// The container's view: each bind's target is its source beside
		// the clab file.
		files := map[string]string{}
		for _, b := range cn.Binds {
			parts := strings.Split(b, ":")
			files[parts[1]] = filepath.Join(dir, parts[0])
		}
		env := []string{"SECYLAB_STATE_DIR=" + stateDir(n)}
		for _, c := range cn.Exec {
			args := strings.Fields(c)
			require.Equal(t, "secylab", args[0], c)
			for i, a := range args {
				if f, ok := files[a]; ok {
					args[i] = f
				}
			}
			o, e, status := runIn(t, ns[n], env, args[1:]...)
			require.Zero(t, status, "%s in %s:\n%s\n%s", c, n, o, e)
		}
		t.Cleanup(func() { runIn(t, ns[n], env, "lab", "down", name) })
	}
	require.Equal(t, []string{"ce1", "ce2", "msee1", "msee2"}, secylabNodes, "the MACsec ends are secylab nodes")
	t.Logf("exported and up: %v", time.Since(t0).Round(100*time.Millisecond))

	ctx := context.Background()
	clients := map[string]*lab.Client{}
	for _, n := range secylabNodes {
		c, err := lab.Dial(stateDir(n), name)
		require.NoError(t, err, n)
		clients[n] = c
		require.NoError(t, c.WaitSecured(ctx, 20*time.Second), n)
	}
	t.Logf("MKA secured: %v", time.Since(t0).Round(100*time.Millisecond))
	for _, n := range secylabNodes {
		_, err := clients[n].WaitBGP(ctx, 20*time.Second)
		require.NoError(t, err, n)
	}
	t.Logf("BGP Established: %v", time.Since(t0).Round(100*time.Millisecond))
	var before macsec.Status
	for _, n := range secylabNodes {
		st, err := clients[n].Status()
		require.NoError(t, err)
		for _, p := range st.Ports {
			assert.True(t, p.HostWire, "%s:%s runs on the container's interface", p.Node, p.Name)
			assert.True(t, strings.HasPrefix(p.Wire, "eth"), "%s:%s on %s", p.Node, p.Name, p.Wire)
			if p.Link == "link1" || p.Link == "link2" {
				require.NotNil(t, p.MKA, "%s:%s", p.Node, p.Name)
				assert.True(t, p.MKA.Secured)
				assert.Equal(t, macsec.GCMAESXPN256, p.Suite, "the topology's cipher")
				assert.False(t, p.IncludeSCI)
				if n == "ce1" {
					before = *p.SecY
				}
			}
		}
		for _, r := range st.BGP {
			for _, nb := range r.Status.Neighbors {
				assert.Equal(t, "Established", nb.State.String(), "%s %s", r.Node, nb.Name)
				if strings.HasPrefix(nb.Name, "link") {
					require.NotNil(t, nb.BFD, "%s %s", r.Node, nb.Name)
					assert.Equal(t, "Up", nb.BFD.State.String())
				}
			}
		}
	}

	// link1's wire: ce1's eth1, every frame both ways while on-premises
	// pings the VNet.
	wire := openPacket(t, ns["ce1"], "eth1")
	types := map[uint16]int{}
	var stop atomic.Bool
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 65536)
		for !stop.Load() {
			n, _, err := unix.Recvfrom(wire, buf, 0)
			switch {
			case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			case err != nil:
				done <- err
				return
			case n >= 14:
				types[binary.BigEndian.Uint16(buf[12:14])]++
			}
		}
		done <- nil
	}()
	// Each echo crosses link1 twice: request and reply.
	got := pingCount(t, ns["onprem-host"], "10.50.0.10", 40) + pingCount(t, ns["vnet-host"], "10.1.0.10", 20)
	// Full-size packets, unfragmented, through the MACsec link.
	big, err := exec.Command("ip", "netns", "exec", ns["onprem-host"], "ping", "-c", "3", "-i", "0.05", "-W", "1", "-M", "do", "-s", "1472", "10.50.0.10").CombinedOutput()
	assert.NoError(t, err, "1500-octet packets on-premises → VNet: %s", big)
	stop.Store(true)
	require.NoError(t, <-done)
	t.Logf("%d of 60 echoes answered; frames on link1's veth by EtherType: %v", got, types)
	assert.GreaterOrEqual(t, got, 57, "on-premises and the VNet reach each other over link1")
	assert.GreaterOrEqual(t, types[0x88e5], 2*got+6, "the echoes both ways, as MACsec")
	assert.Positive(t, types[0x888e], "MKA")
	for et, n := range types {
		assert.Contains(t, []uint16{0x88e5, 0x888e}, et, "%d frames of EtherType %#04x in clear on link1", n, et)
	}
	st, err := clients["ce1"].Status()
	require.NoError(t, err)
	for _, p := range st.Ports {
		if p.Link == "link1" {
			assert.GreaterOrEqual(t, p.SecY.TxSC.Stats.OutPktsEncrypted-before.TxSC.Stats.OutPktsEncrypted, uint64(got), "ce1 encrypted the echoes it sent on link1")
		}
	}

	for _, n := range secylabNodes {
		o, e, status := runIn(t, ns[n], []string{"SECYLAB_STATE_DIR=" + stateDir(n)}, "lab", "down", name)
		require.Zero(t, status, "%s\n%s", o, e)
	}
	left, err := filepath.Glob(filepath.Join(netnsx.Dir, "sl-"+name+".*"))
	require.NoError(t, err)
	assert.Empty(t, left, "lab down removes every node's namespace")
	t.Logf("the whole test: %v", time.Since(t0).Round(100*time.Millisecond))
}

// pingCount pings addr from ns count times, 50 ms apart, and returns how
// many were answered.
func pingCount(t *testing.T, ns, addr string, count int) int {
	t.Helper()
	out, _ := exec.Command("ip", "netns", "exec", ns, "ping", "-q", "-c", strconv.Itoa(count), "-i", "0.05", "-W", "1", addr).CombinedOutput()
	m := regexp.MustCompile(`(\d+) received`).FindSubmatch(out)
	require.NotNil(t, m, "%s", out)
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// openPacket opens an AF_PACKET socket on ifname in namespace ns that
// receives every frame sent and received there.
func openPacket(t *testing.T, ns, ifname string) int {
	t.Helper()
	var fd int
	require.NoError(t, netnsx.Do(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		proto := int(htons(unix.ETH_P_ALL))
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	}))
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	require.NoError(t, unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv))
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
