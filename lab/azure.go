package lab

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/secylab/secylab/azure"
	"github.com/secylab/secylab/internal/secret"
	"github.com/secylab/secylab/internal/value"
	"github.com/secylab/secylab/topology"
)

// A lab with an azure block runs an emulation of Azure's control plane
// (package azure) in the lab process: its port's links drive the
// Microsoft edge of the lab's Direct links through AzureLinkOp. What a
// client needs is in the lab's directory, azure/: ca.pem (the emulator's
// CA), cloud.json (0600: endpoints, the proxy, the service principal and
// its secret) and python/ (azure-cli's shim, azure.WriteShim).

// AzureDir is where a lab keeps its emulator's files.
func AzureDir(stateDir, lab string) string {
	return filepath.Join(topology.LabDir(stateDir, lab), "azure")
}

// The files in AzureDir.
const (
	AzureCAFile    = "ca.pem"
	AzureCloudFile = "cloud.json"
	AzureShimDir   = "python"
	// AzureSecretFile holds the service principal's secret alone (0600),
	// for az login -p "$(cat FILE)".
	AzureSecretFile = "sp-secret"
)

// ReadAzureCloud reads what a running lab's emulator wrote for clients.
func ReadAzureCloud(stateDir, lab string) (azure.Cloud, error) {
	var c azure.Cloud
	b, err := secret.ReadFile(filepath.Join(AzureDir(stateDir, lab), AzureCloudFile))
	if err != nil {
		if os.IsNotExist(err) {
			return c, fmt.Errorf("lab %s runs no Azure emulator (lab up --azure, or an azure: block in the topology)", lab)
		}
		return c, err
	}
	err = json.Unmarshal(b, &c)
	clear(b)
	return c, err
}

type azureRuntime struct {
	emu    *azure.Emulator
	cfg    *topology.Azure
	cloud  azure.Cloud
	ln     net.Listener
	client *azure.Client
	mu     sync.Mutex
	calls  []azure.Call
	seq    uint64
}

// maxAzureCalls bounds the calls a lab remembers for status and reports.
const maxAzureCalls = 1000

// startAzure makes the emulator: the lab's port with its links as the
// Microsoft edge runs them now (the keys seeded as secret versions of the
// lab's vault), and writes the clients' files to dir.
func (l *Lab) startAzure(dir string) error {
	a := l.topo.Azure
	rt := &azureRuntime{cfg: a}
	emu, err := azure.New(azure.Config{
		Name: l.topo.Name, ResourceGroup: a.ResourceGroup, Identities: []string{a.Identity},
		Vaults: []azure.VaultConfig{{Name: a.Vault, Readers: []string{a.Identity}}},
		Logger: l.cfg.Logger, Record: rt.record,
	})
	if err != nil {
		return fmt.Errorf("azure: %w", err)
	}
	rt.emu = emu
	pc := azure.PortConfig{Name: a.Port, PeeringLocation: a.PeeringLocation, BandwidthInGbps: a.BandwidthInGbps, Encapsulation: string(a.Encapsulation),
		Identity: a.Identity, Edge: labEdge{l}, Links: []azure.Link{}}
	for _, ep := range l.topo.ExpressRoutePorts {
		if ep.Name == a.Port {
			for _, c := range ep.Circuits {
				pc.Circuits = append(pc.Circuits, azure.CircuitConfig{Name: c.Name, BandwidthInGbps: float64(c.BandwidthGbps)})
			}
		}
	}
	for i, al := range a.Links {
		name := fmt.Sprintf("link%d", i+1)
		link := azure.Link{Name: name, AdminState: "Enabled", MACsec: azure.MacSecConfig{Cipher: "GcmAes128", SCIState: "Disabled"}}
		p, _ := l.edgePort(al)
		if p == nil {
			return fmt.Errorf("azure: link %s has no data plane at %s", al.Link, al.Edge)
		}
		p.mu.Lock()
		mc := p.mc
		p.mu.Unlock()
		if mc != nil {
			ckn, err := emu.SetSecret(a.Vault, name+"-ckn", mc.PSK.CKN.String())
			if err != nil {
				return err
			}
			digits := mc.CAKDigits
			if digits == 0 {
				digits = 2 * mc.PSK.CAK.Len()
			}
			cakHex := hex.EncodeToString(mc.PSK.CAK.Bytes()[:digits/2])
			cak, err := emu.SetSecret(a.Vault, name+"-cak", cakHex)
			if err != nil {
				return err
			}
			link.MACsec = azure.MacSecConfig{CKNSecretIdentifier: ckn, CAKSecretIdentifier: cak, Cipher: mc.Suite.AzureName(), SCIState: map[bool]string{true: "Enabled", false: "Disabled"}[mc.IncludeSCI]}
		}
		pc.Links = append(pc.Links, link)
	}
	if err := emu.AddPort(pc); err != nil {
		return fmt.Errorf("azure: %w", err)
	}
	rt.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rt.cloud = emu.Cloud()
	rt.cloud.Proxy = "http://" + rt.ln.Addr().String()
	rt.cloud.CACert = filepath.Join(dir, AzureCAFile)
	rt.cloud.Port, rt.cloud.Vault = a.Port, a.Vault
	if rt.client, err = azure.NewClient(rt.cloud, emu.CA().CertPEM); err != nil {
		rt.ln.Close()
		return err
	}
	if err := writeAzureFiles(dir, rt.cloud, emu.CA().CertPEM); err != nil {
		rt.ln.Close()
		return err
	}
	l.azure = rt
	return nil
}

func writeAzureFiles(dir string, c azure.Cloud, ca []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, AzureCAFile), ca, 0o644); err != nil {
		return err
	}
	if err := azure.WriteShim(filepath.Join(dir, AzureShimDir)); err != nil {
		return err
	}
	if err := secret.WriteFile(filepath.Join(dir, AzureSecretFile), func(w io.Writer) error {
		_, err := io.WriteString(w, c.ClientSecret)
		return err
	}); err != nil {
		return err
	}
	return secret.WriteFile(filepath.Join(dir, AzureCloudFile), func(w io.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(c)
	})
}

func (rt *azureRuntime) serve(ctx context.Context) error { return rt.emu.Serve(ctx, rt.ln) }

func (rt *azureRuntime) record(c azure.Call) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.calls) == maxAzureCalls {
		rt.calls = append(rt.calls[:0], rt.calls[1:]...)
	}
	// The time again under the lock: a PUT's handler and the operation it
	// started record concurrently, and the list is kept in time order.
	rt.seq++
	c.Seq, c.Time = rt.seq, time.Now()
	rt.calls = append(rt.calls, c)
}

// edgePort is the running port at the Microsoft end of one of the
// Azure port's links.
func (l *Lab) edgePort(al topology.AzureLink) (*Port, string) {
	tl := l.topo.Link(al.Link)
	if tl == nil {
		return nil, ""
	}
	for _, e := range tl.Ends {
		if e.Node == al.Edge {
			return l.Port(e.Node, e.Port), e.Port
		}
	}
	return nil, ""
}

// labEdge is the Microsoft edge as the emulator sees it: each accepted
// change of a link is an AzureLinkOp on the lab.
type labEdge struct{ l *Lab }

func (e labEdge) Apply(ctx context.Context, ch azure.LinkChange) error {
	a := e.l.topo.Azure
	var al *topology.AzureLink
	for i := range a.Links {
		if fmt.Sprintf("link%d", i+1) == ch.Link {
			al = &a.Links[i]
		}
	}
	if al == nil {
		return fmt.Errorf("the lab has no link behind %s", ch.Link)
	}
	op := &AzureLinkOp{Link: al.Link, Node: al.Edge, AdminState: value.Switch(ch.AdminEnabled), Operation: ch.Operation}
	if m := ch.MACsec; m != nil {
		op.MACsec = &AzureMACsec{Cipher: m.Cipher.AzureName(), SCIState: map[bool]string{true: "Enabled", false: "Disabled"}[m.IncludeSCI],
			CKNSecret: m.CKNSecretID, CAKSecret: m.CAKSecretID, Identity: m.Identity}
	}
	_, err := e.l.Do(ctx, op)
	return err
}

// AzureStatus is the emulator in a lab's status: where clients reach it,
// the port as Azure shows it, each of its links beside the lab's link and
// Microsoft edge, and the calls it answered.
type AzureStatus struct {
	Proxy  string            `json:"proxy"`
	CACert string            `json:"caCert"`
	Vault  string            `json:"vault"`
	Ports  []azure.PortView  `json:"ports"`
	Links  []AzureLinkStatus `json:"links"`
	Calls  []azure.Call      `json:"calls,omitempty"`
}

// AzureLinkStatus maps one of the port's links to the lab's.
type AzureLinkStatus struct {
	AzureLink string `json:"azureLink"` // link1, link2
	Link      string `json:"link"`      // the lab's link
	Edge      string `json:"edge"`      // its Microsoft edge node
}

func (l *Lab) azureStatus() *AzureStatus {
	rt := l.azure
	if rt == nil {
		return nil
	}
	st := &AzureStatus{Proxy: rt.cloud.Proxy, CACert: rt.cloud.CACert, Vault: rt.cfg.Vault, Ports: rt.emu.Ports()}
	for i, al := range rt.cfg.Links {
		st.Links = append(st.Links, AzureLinkStatus{AzureLink: fmt.Sprintf("link%d", i+1), Link: al.Link, Edge: al.Edge})
	}
	rt.mu.Lock()
	st.Calls = append([]azure.Call(nil), rt.calls...)
	rt.mu.Unlock()
	return st
}

// AzureEnv is the environment that aims Azure's clients at a running
// lab's emulator, as secylab azure env prints it: the proxy, the CA, the
// service principal (its secret in AZURE_CLIENT_SECRET), an azure-cli
// config directory of the lab's own (removed with the lab), and SECYLAB_AZURE_*
// naming the endpoints, the resource group, the port and the vault for
// the user's scripts.
func AzureEnv(stateDir, name string) (map[string]string, error) {
	c, err := ReadAzureCloud(stateDir, name)
	if err != nil {
		return nil, err
	}
	dir := AzureDir(stateDir, name)
	m := azure.Env(c.Proxy, c.CACert, filepath.Join(dir, AzureShimDir), filepath.Join(dir, "az"))
	for k, v := range map[string]string{
		"AZURE_TENANT_ID": c.Tenant, "AZURE_CLIENT_ID": c.ClientID, "AZURE_SUBSCRIPTION_ID": c.Subscription, "AZURE_CLIENT_SECRET": c.ClientSecret,
		"SECYLAB_AZURE_CLOUD": c.Name, "SECYLAB_AZURE_ARM": c.ResourceManager, "SECYLAB_AZURE_KV_SUFFIX": c.KeyVaultDNSSuffix,
		"SECYLAB_AZURE_KV_RESOURCE": c.KeyVaultResourceID, "SECYLAB_AZURE_RESOURCE_GROUP": c.ResourceGroup,
		"SECYLAB_AZURE_PORT": c.Port, "SECYLAB_AZURE_VAULT": c.Vault,
	} {
		m[k] = v
	}
	return m, nil
}
