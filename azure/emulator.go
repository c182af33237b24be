package azure

import (
	"bufio"
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// DefaultDomain is the emulated cloud's DNS domain (RFC 2606's .test:
// nothing resolves there, the proxy reaches every host).
const DefaultDomain = "secylab.test"

// Config describes an emulator: its cloud, the lab's subscription and
// resource group, and what exists at start.
type Config struct {
	Name   string // the lab's name, for the CA
	Domain string // "": DefaultDomain
	// Tenant and Subscription are GUIDs; "": generated.
	Tenant, Subscription string
	ResourceGroup        string // "": "secylab"
	Location             string // "": "westus2"
	Vaults               []VaultConfig
	Identities           []string // user-assigned identities in ResourceGroup
	// Ports are the ports bound to the lab: a port made (or already
	// there) with such a name drives its Edge.
	Ports []PortConfig
	// PageSize is how many resources a list returns before it gives a
	// nextLink, as ARM pages its lists; 0: 100.
	PageSize int
	Logger   *slog.Logger
	// Record, if set, is told of every call (never a secret's value).
	Record func(Call)
}

// VaultConfig is a Key Vault and the identities that may read its
// secrets (get and list); the lab's service principal may do anything.
type VaultConfig struct {
	Name    string
	Readers []string // identity names
}

// CircuitConfig is a circuit on a port: its name and bandwidth.
type CircuitConfig struct {
	Name            string
	BandwidthInGbps float64
}

// PortConfig binds a port to the lab's Microsoft edge.
type PortConfig struct {
	Name            string
	PeeringLocation string
	BandwidthInGbps int
	Encapsulation   string
	Identity        string // identity name; "": none
	// Circuits are the expressRouteCircuits on the port.
	Circuits []CircuitConfig
	// Links are the port's links as provisioned (link1, link2); a nil
	// Links means the port does not exist until a client creates it.
	Links []Link
	Edge  Edge
}

// Call is one request the emulator answered, for a lab's timeline.
type Call struct {
	// Seq numbers the calls in the order they were recorded, from 1; set
	// by whoever keeps them (Config.Record), so a reader can take the new
	// ones without comparing times that concurrent handlers take apart.
	Seq    uint64    `json:"seq,omitempty"`
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Status int       `json:"status"`
	Code   string    `json:"code,omitempty"`
	Detail string    `json:"detail,omitempty"`
}

func (c Call) String() string {
	path := c.Path
	if i := strings.LastIndex(path, "/providers/"); i >= 0 {
		path = path[i+len("/providers/"):] // the subscription and resource group are the lab's
	}
	s := fmt.Sprintf("%s %s → %d", c.Method, path, c.Status)
	if c.Code != "" {
		s += " " + c.Code
	}
	if c.Detail != "" {
		s += " (" + c.Detail + ")"
	}
	return s
}

type hosts struct {
	management, login, vaultSuffix string
}

// Identity is a user-assigned managed identity resource.
type Identity struct {
	Principal
	ID, ResourceGroup string
}

// Emulator is the emulated control plane. Its state lives in memory.
type Emulator struct {
	cfg          Config
	hosts        hosts
	tenant       string
	subscription string
	ca           *CA
	sp           ServicePrincipal
	tokens       *tokenIssuer
	log          *slog.Logger

	mu         sync.Mutex
	groups     map[string]string    // lower-case → name
	identities map[string]*Identity // by lower-case resource id
	principals map[string]Principal // by object id
	vaults     map[string]*vault
	ports      map[string]*Port // by lower-case "rg/name"
	bound      map[string]PortConfig
	ops        map[string]*asyncOp
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// New makes an emulator: its CA, service principal and the resources of
// cfg. It serves nothing until Serve.
func New(cfg Config) (*Emulator, error) {
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	if cfg.ResourceGroup == "" {
		cfg.ResourceGroup = "secylab"
	}
	if cfg.Location == "" {
		cfg.Location = "westus2"
	}
	if cfg.Tenant == "" {
		cfg.Tenant = newGUID()
	}
	if cfg.Subscription == "" {
		cfg.Subscription = newGUID()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ca, err := NewCA(cfg.Name)
	if err != nil {
		return nil, err
	}
	d := cfg.Domain
	e := &Emulator{
		cfg: cfg, hosts: hosts{management: "management." + d, login: "login." + d, vaultSuffix: ".vault." + d},
		tenant: cfg.Tenant, subscription: cfg.Subscription, ca: ca, log: cfg.Logger,
		groups:     map[string]string{strings.ToLower(cfg.ResourceGroup): cfg.ResourceGroup},
		identities: map[string]*Identity{}, principals: map[string]Principal{}, vaults: map[string]*vault{},
		ports: map[string]*Port{}, bound: map[string]PortConfig{}, ops: map[string]*asyncOp{},
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.tokens = newTokenIssuer(e.tenant, "https://"+e.hosts.login+"/"+e.tenant+"/v2.0")
	e.sp = ServicePrincipal{Principal: Principal{ObjectID: newGUID(), ClientID: newGUID(), Name: "secylab-" + cfg.Name}, Secret: newID(24)}
	e.principals[e.sp.ObjectID] = e.sp.Principal
	for _, n := range cfg.Identities {
		if _, err := e.addIdentity(cfg.ResourceGroup, n); err != nil {
			return nil, err
		}
	}
	for _, vc := range cfg.Vaults {
		if !vaultName.MatchString(vc.Name) {
			return nil, fmt.Errorf("vault name %q: 3 to 24 characters, letters, digits and '-', starting with a letter", vc.Name)
		}
		v := &vault{name: strings.ToLower(vc.Name), secrets: map[string]*secret{}, deleted: map[string]*deletedSecret{},
			access: map[string][]string{e.sp.ObjectID: allSecretPermissions}}
		for _, r := range vc.Readers {
			id := e.identities[strings.ToLower(e.identityID(cfg.ResourceGroup, r))]
			if id == nil {
				return nil, fmt.Errorf("vault %s: reader %q is not one of the identities (%s)", vc.Name, r, strings.Join(cfg.Identities, ", "))
			}
			v.access[id.ObjectID] = []string{"get", "list"}
		}
		e.vaults[v.name] = v
	}
	for _, pc := range cfg.Ports {
		if err := e.AddPort(pc); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// AddPort binds a port to the lab; with Links it exists already, as
// provisioned, its links as given (adminState, macSecConfig).
func (e *Emulator) AddPort(pc PortConfig) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	rg := e.cfg.ResourceGroup
	e.bound[strings.ToLower(rg+"/"+pc.Name)] = pc
	if pc.Links == nil {
		return nil
	}
	p := e.newPort(rg, pc.Name, e.cfg.Location, pc.PeeringLocation, pc.BandwidthInGbps, pc.Encapsulation)
	if pc.Identity != "" {
		p.Identity = e.identityID(rg, pc.Identity)
		if e.identities[strings.ToLower(p.Identity)] == nil {
			return fmt.Errorf("port %s: identity %q is not one of the identities (%s)", pc.Name, pc.Identity, strings.Join(e.cfg.Identities, ", "))
		}
	}
	for i := range pc.Links {
		if l := p.link(pc.Links[i].Name); l != nil {
			l.AdminState, l.MACsec = pc.Links[i].AdminState, pc.Links[i].MACsec
		}
	}
	for _, c := range pc.Circuits {
		p.Circuits = append(p.Circuits, "/subscriptions/"+e.subscription+"/resourceGroups/"+rg+"/providers/Microsoft.Network/expressRouteCircuits/"+c.Name)
		p.ProvisionedGbps += c.BandwidthInGbps
	}
	p.ProvisioningState = "Succeeded"
	p.edge = pc.Edge
	e.ports[strings.ToLower(rg+"/"+pc.Name)] = p
	return nil
}

// Cloud is what a client needs to aim at the emulator.
type Cloud struct {
	Name                      string `json:"name"`
	ResourceManager           string `json:"resourceManager"` // https://management.<domain>/
	ActiveDirectory           string `json:"activeDirectory"` // https://login.<domain>
	ActiveDirectoryResourceID string `json:"activeDirectoryResourceId"`
	KeyVaultDNSSuffix         string `json:"keyVaultDnsSuffix"` // .vault.<domain>
	KeyVaultResourceID        string `json:"keyVaultResourceId"`
	Tenant                    string `json:"tenant"`
	Subscription              string `json:"subscription"`
	ResourceGroup             string `json:"resourceGroup"`
	Location                  string `json:"location"`
	ClientID                  string `json:"clientId"`
	ClientSecret              string `json:"clientSecret,omitempty"`
	Proxy                     string `json:"proxy,omitempty"` // http://127.0.0.1:PORT
	CACert                    string `json:"caCert,omitempty"`
	// Port and Vault are the lab's (set by the lab).
	Port  string `json:"port,omitempty"`
	Vault string `json:"vault,omitempty"`
}

// Cloud describes the emulator, the service principal's secret included.
func (e *Emulator) Cloud() Cloud {
	return Cloud{
		Name:                      "secylab",
		ResourceManager:           "https://" + e.hosts.management + "/",
		ActiveDirectory:           "https://" + e.hosts.login,
		ActiveDirectoryResourceID: e.armAudience() + "/",
		KeyVaultDNSSuffix:         e.hosts.vaultSuffix,
		KeyVaultResourceID:        e.vaultAudience(),
		Tenant:                    e.tenant, Subscription: e.subscription, ResourceGroup: e.cfg.ResourceGroup, Location: e.cfg.Location,
		ClientID: e.sp.ClientID, ClientSecret: e.sp.Secret,
	}
}

// CA is the emulator's certificate authority.
func (e *Emulator) CA() *CA { return e.ca }

func (e *Emulator) armAudience() string   { return "https://" + e.hosts.management }
func (e *Emulator) vaultAudience() string { return "https://vault." + e.cfg.Domain }

func (e *Emulator) record(c Call) {
	c.Time = time.Now()
	e.log.Info("azure", "call", c.String())
	if e.cfg.Record != nil {
		e.cfg.Record(c)
	}
}

// Handler serves the emulator's HTTPS requests (after TLS), by host.
func (e *Emulator) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.ToLower(r.Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		switch {
		case host == e.hosts.management:
			e.serveARM(w, r)
		case host == e.hosts.login:
			e.serveLogin(w, r)
		case strings.HasSuffix(host, e.hosts.vaultSuffix) && !strings.Contains(strings.TrimSuffix(host, e.hosts.vaultSuffix), "."):
			e.serveVault(w, r, strings.TrimSuffix(host, e.hosts.vaultSuffix))
		default:
			writeError(w, errorf(http.StatusNotFound, "HostNotFound", "", "%s is not a host of this emulator (%s)", host, e.cfg.Domain))
		}
	})
}

// serves reports whether the proxy takes a tunnel to host.
func (e *Emulator) serves(host string) bool {
	host = strings.ToLower(host)
	if host == e.hosts.management || host == e.hosts.login {
		return true
	}
	v, ok := strings.CutSuffix(host, e.hosts.vaultSuffix)
	return ok && vaultName.MatchString(v)
}

// Serve answers on ln until ctx ends: an HTTP proxy whose CONNECT tunnels
// to the emulator's hosts end in its TLS server (certificates of its CA);
// a tunnel to any other host is refused, so nothing leaves the machine.
func (e *Emulator) Serve(ctx context.Context, ln net.Listener) error {
	cert, err := e.ca.ServerCert(e.hosts.management, e.hosts.login, "*"+e.hosts.vaultSuffix, "127.0.0.1")
	if err != nil {
		return err
	}
	tunnels := &connListener{conns: make(chan net.Conn), done: make(chan struct{}), addr: ln.Addr()}
	tsrv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(e.log.Handler(), slog.LevelDebug)}
	psrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.serveProxy(w, r, tunnels) }),
		ReadHeaderTimeout: 10 * time.Second, ErrorLog: tsrv.ErrorLog}
	errc := make(chan error, 2)
	go func() {
		errc <- tsrv.Serve(tls.NewListener(tunnels, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	}()
	go func() { errc <- psrv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	e.cancel()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	psrv.Shutdown(sctx)
	tunnels.Close()
	tsrv.Shutdown(sctx)
	e.wg.Wait()
	if errors.Is(err, http.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (e *Emulator) serveProxy(w http.ResponseWriter, r *http.Request, tunnels *connListener) {
	if r.Method != http.MethodConnect {
		http.Error(w, "secylab's Azure emulator is an HTTPS proxy: set HTTPS_PROXY=http://"+r.Host+" (secylab azure env)", http.StatusBadRequest)
		return
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil || port != "443" || !e.serves(host) {
		http.Error(w, r.Host+" is not a host of the lab's Azure emulator ("+e.cfg.Domain+"): refused", http.StatusForbidden)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no tunnel", http.StatusInternalServerError)
		return
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		c.Close()
		return
	}
	conn := c
	if brw.Reader.Buffered() > 0 {
		conn = &bufferedConn{Conn: c, r: brw.Reader}
	}
	select {
	case tunnels.conns <- conn:
	case <-tunnels.done:
		c.Close()
	}
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// connListener hands the proxy's tunnels to the TLS server.
type connListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *connListener) Addr() net.Addr { return l.addr }

// SetSecret stores a new version of a secret, as the lab's service
// principal would, and returns its identifier.
func (e *Emulator) SetSecret(vaultName, name, value string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.vaults[strings.ToLower(vaultName)]
	if v == nil {
		return "", fmt.Errorf("no vault %s", vaultName)
	}
	if err := checkSecretName(name); err != nil {
		return "", err
	}
	key := strings.ToLower(name)
	s := v.secrets[key]
	if s == nil {
		s = &secret{name: name}
		v.secrets[key] = s
	}
	now := time.Now()
	ver := &secretVersion{version: newID(16), value: value, enabled: true, created: now, updated: now}
	s.versions = append(s.versions, ver)
	return e.secretID(v, s, ver), nil
}

// LinkView is a link as Azure shows it.
type LinkView struct {
	Name              string       `json:"name"`
	AdminState        string       `json:"adminState"`
	MacSecConfig      MacSecConfig `json:"macSecConfig"`
	ProvisioningState string       `json:"provisioningState"`
}

// PortView is a port as Azure shows it, for lab status.
type PortView struct {
	Name              string     `json:"name"`
	ID                string     `json:"id"`
	BandwidthInGbps   int        `json:"bandwidthInGbps"`
	Identity          string     `json:"identity,omitempty"`
	ProvisioningState string     `json:"provisioningState"`
	Etag              string     `json:"etag"`
	Links             []LinkView `json:"links"`
}

// Ports shows the ports of the lab's resource group.
func (e *Emulator) Ports() []PortView {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []PortView
	for _, k := range sortedKeys(e.ports) {
		p := e.ports[k]
		pv := PortView{Name: p.Name, ID: e.portID(p), BandwidthInGbps: p.BandwidthInGbps, Identity: p.Identity, ProvisioningState: p.ProvisioningState, Etag: p.Etag}
		for _, l := range p.Links {
			pv.Links = append(pv.Links, LinkView{Name: l.Name, AdminState: l.AdminState, MacSecConfig: l.MACsec, ProvisioningState: l.ProvisioningState})
		}
		out = append(out, pv)
	}
	return out
}

//go:embed azshim/sitecustomize.py
var azShim []byte

// WriteShim writes, into dir, the Python module that lets Debian's
// azure-cli 2.45 run its network commands (see azshim/sitecustomize.py);
// Env puts dir on PYTHONPATH.
func WriteShim(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "sitecustomize.py"), azShim, 0o644)
}

// Env is the environment that aims Azure's clients (azure-cli, the SDKs,
// Terraform) at an emulator reached through proxy, trusting its CA at
// caFile; shimDir (WriteShim) goes on PYTHONPATH; configDir, if set,
// keeps azure-cli's state apart.
func Env(proxy, caFile, shimDir, configDir string) map[string]string {
	env := map[string]string{
		"HTTPS_PROXY": proxy, "https_proxy": proxy, "NO_PROXY": "", "no_proxy": "",
		"REQUESTS_CA_BUNDLE": caFile, "SSL_CERT_FILE": caFile,
		"AZURE_CORE_COLLECT_TELEMETRY": "no", "AZURE_CORE_ONLY_SHOW_ERRORS": "true", "AZURE_CORE_NO_COLOR": "true",
	}
	if shimDir != "" {
		env["PYTHONPATH"] = shimDir
	}
	if configDir != "" {
		env["AZURE_CONFIG_DIR"] = configDir
	}
	return env
}

// Login is the azure-cli commands that register the emulator as a cloud
// and log in as the lab's service principal. az cloud register reads the
// other endpoints from ARM's metadata (/metadata/endpoints, as for Azure
// Stack Hub); its AD endpoint is AD FS style (…/adfs): MSAL validates any
// other authority against login.microsoftonline.com, which a lab cannot
// answer.
func Login(c Cloud) [][]string {
	return [][]string{
		{"cloud", "register", "-n", c.Name, "--endpoint-resource-manager", c.ResourceManager, "--suffix-keyvault-dns", c.KeyVaultDNSSuffix},
		{"cloud", "set", "-n", c.Name},
		{"login", "--service-principal", "-u", c.ClientID, "-p", c.ClientSecret, "--tenant", c.Tenant},
		{"account", "set", "-s", c.Subscription},
	}
}

// SecretSet is the azure-cli command that stores a new version of a
// secret and prints its identifier. It is "az rest" with Key Vault's own
// request: Debian's azure-cli 2.45 lacks the legacy Key Vault SDK
// (azure.keyvault.v7_0) that its "az keyvault secret" commands load.
func SecretSet(c Cloud, vault, name, value string) []string {
	body, _ := json.Marshal(map[string]string{"value": value})
	return []string{"rest", "--method", "put", "--url", "https://" + vault + c.KeyVaultDNSSuffix + "/secrets/" + name + "?api-version=7.4",
		"--resource", c.KeyVaultResourceID, "--headers", "Content-Type=application/json", "--body", string(body), "--query", "id", "-o", "tsv"}
}
