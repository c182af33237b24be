package azure

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/secylab/secylab/expressroute"
	"github.com/secylab/secylab/macsec"
)

// Edge is the lab's Microsoft edge behind a port: ARM hands it each
// accepted change of a link (once checked: the secrets readable through
// the port's identity and good for the cipher).
type Edge interface {
	Apply(ctx context.Context, ch LinkChange) error
}

// LinkChange is what a link of a port is to run now.
type LinkChange struct {
	Port, Link   string
	AdminEnabled bool
	// MACsec is nil for MACsec off (no secrets named).
	MACsec *LinkMACsec
	// Operation is the asynchronous operation's id.
	Operation string
}

// LinkMACsec is a link's macSecConfig as the edge takes it: the secrets
// by identifier, to be read as the port's identity (ReadKey).
type LinkMACsec struct {
	Cipher      macsec.CipherSuite
	IncludeSCI  bool
	CKNSecretID string
	CAKSecretID string
	// Identity is the object (principal) id of the port's identity.
	Identity string
}

var (
	vaultName    = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{2,23}$`)
	resourceName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,78}[a-zA-Z0-9_]$|^[a-zA-Z0-9]$`)
)

// Managed identity api-versions.
var identityAPIVersions = []string{"2015-08-31-preview", "2018-11-30", "2021-09-30-preview", "2022-01-31-preview", "2023-01-31", "2023-07-31-preview", "2024-11-30"}

func (e *Emulator) identityID(rg, name string) string {
	return "/subscriptions/" + e.subscription + "/resourcegroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
}

func (e *Emulator) addIdentity(rg, name string) (*Identity, error) {
	if !resourceName.MatchString(name) {
		return nil, fmt.Errorf("identity name %q: 1 to 80 letters, digits, '-', '_' and '.'", name)
	}
	id := &Identity{Principal: Principal{ObjectID: newGUID(), ClientID: newGUID(), Name: name}, ID: e.identityID(rg, name), ResourceGroup: rg}
	e.identities[strings.ToLower(id.ID)] = id
	e.principals[id.ObjectID] = id.Principal
	return id, nil
}

func (e *Emulator) newPort(rg, name, location, peering string, bw int, encap string) *Port {
	p := &Port{Name: name, ResourceGroup: rg, Location: location, PeeringLocation: peering, BandwidthInGbps: bw, Encapsulation: encap,
		BillingType: "MeteredData", ResourceGUID: newGUID(), Etag: newEtag(), AllocationDate: time.Now().UTC().Format("Monday, January 2, 2006"),
		MTU: "1500", EtherType: "0x8100"}
	if encap == "QinQ" {
		p.EtherType = "0x88a8"
	}
	for i, n := range []string{"link1", "link2"} {
		p.Links = append(p.Links, &Link{Name: n, AdminState: "Disabled", MACsec: MacSecConfig{Cipher: "GcmAes128", SCIState: "Disabled"},
			RouterName: fmt.Sprintf("%s-%s-msee-%d", strings.ToLower(peering), "er", i+1), InterfaceName: fmt.Sprintf("HundredGigE0/0/0/%d", i),
			PatchPanelID: fmt.Sprintf("PP:%04d:%d", 1000+i, i+1), RackID: fmt.Sprintf("RACK%02d", i+1), ColoLocation: peering,
			ConnectorType: "LC", ProvisioningState: "Succeeded", Etag: p.Etag})
	}
	return p
}

func newEtag() string { return `W/"` + newGUID() + `"` }

// asyncOp is an Azure-AsyncOperation: the edge's part of a PUT.
type asyncOp struct {
	status string // InProgress, Succeeded, Failed
	err    *Error
	start  time.Time
	end    time.Time
}

func (e *Emulator) serveARM(w http.ResponseWriter, r *http.Request) {
	rec := Call{Method: r.Method, Path: r.URL.Path}
	status, body, err := e.arm(w, r, &rec)
	if err != nil {
		rec.Status, rec.Code = err.Status, err.Code
		e.record(rec)
		writeError(w, err)
		return
	}
	if rec.Status == 0 && !strings.Contains(strings.ToLower(r.URL.Path), "/operations/") {
		rec.Status = status
		e.record(rec)
	}
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

func (e *Emulator) arm(w http.ResponseWriter, r *http.Request, rec *Call) (int, any, *Error) {
	path := strings.Trim(r.URL.Path, "/")
	seg := strings.Split(path, "/")
	low := strings.Split(strings.ToLower(path), "/")
	if strings.EqualFold(path, "metadata/endpoints") {
		return http.StatusOK, e.metadata(), nil
	}
	if _, err := e.tokens.check(r, e.armAudience()); err != nil {
		return 0, nil, err
	}
	av := r.URL.Query().Get("api-version")
	if av == "" {
		return 0, nil, errorf(http.StatusBadRequest, CodeMissingAPIVersion, "", "The api-version query parameter (?api-version=) is required for all requests.")
	}
	rec.Path += "?api-version=" + av
	if low[0] != "subscriptions" {
		return 0, nil, errorf(http.StatusNotFound, "InvalidResourceType", "", "The resource type could not be found: %s", r.URL.Path)
	}
	if len(seg) == 1 {
		return http.StatusOK, map[string]any{"value": []any{e.subscriptionJSON()}}, nil
	}
	if !strings.EqualFold(seg[1], e.subscription) {
		return 0, nil, errorf(http.StatusNotFound, CodeSubscriptionNotFound, "", "The subscription '%s' could not be found.", seg[1])
	}
	rest, lrest := seg[2:], low[2:]
	switch {
	case len(rest) == 0:
		return http.StatusOK, e.subscriptionJSON(), nil
	case len(rest) == 1 && lrest[0] == "resourcegroups":
		var gs []any
		for _, k := range sortedKeys(e.groups) {
			gs = append(gs, e.groupJSON(e.groups[k]))
		}
		return http.StatusOK, map[string]any{"value": gs}, nil
	case len(rest) == 3 && lrest[0] == "providers" && lrest[1] == "microsoft.network" && lrest[2] == "expressrouteports":
		return e.listPorts(r, "", av)
	case len(rest) == 6 && lrest[0] == "providers" && lrest[1] == "microsoft.network" && lrest[2] == "locations" && lrest[4] == "operations":
		return e.operationStatus(rest[5])
	case len(rest) == 6 && lrest[0] == "providers" && lrest[1] == "microsoft.network" && lrest[2] == "locations" && lrest[4] == "operationresults":
		return e.operationResult(w, r, rest[5])
	case lrest[0] != "resourcegroups" || len(rest) < 2:
		return 0, nil, errorf(http.StatusNotFound, "InvalidResourceType", "", "The resource type could not be found: %s", r.URL.Path)
	}
	rg, ok := e.groups[lrest[1]]
	if !ok {
		return 0, nil, errorf(http.StatusNotFound, CodeResourceGroupNotFound, "", "Resource group '%s' could not be found.", rest[1])
	}
	rest, lrest = rest[2:], lrest[2:]
	switch {
	case len(rest) == 0:
		return http.StatusOK, e.groupJSON(rg), nil
	case len(rest) >= 3 && lrest[0] == "providers" && lrest[1] == "microsoft.managedidentity" && lrest[2] == "userassignedidentities":
		return e.identityOp(r, rg, rest[3:], av)
	case len(rest) >= 3 && lrest[0] == "providers" && lrest[1] == "microsoft.network" && lrest[2] == "expressrouteports":
	default:
		return 0, nil, errorf(http.StatusNotFound, "InvalidResourceType", "", "The resource type could not be found: %s", r.URL.Path)
	}
	if !knownNetworkVersion(av) {
		return 0, nil, errorf(http.StatusBadRequest, CodeNoRegisteredProvider, "",
			"No registered resource provider found for location '%s' and API version '%s' for type 'expressRoutePorts'. The supported api-versions are '%s'. The supported locations are '%s'.",
			e.cfg.Location, av, strings.Join(networkAPIVersions, ", "), e.cfg.Location)
	}
	v := apiVersion(av)
	rest, lrest = rest[3:], lrest[3:]
	if len(rest) == 0 {
		if r.Method != http.MethodGet {
			return 0, nil, methodNotAllowed(r)
		}
		return e.listPorts(r, rg, av)
	}
	name := rest[0]
	switch {
	case len(rest) == 1 && r.Method == http.MethodGet:
		e.mu.Lock()
		defer e.mu.Unlock()
		p, err := e.port(rg, name)
		if err != nil {
			return 0, nil, err
		}
		w.Header().Set("ETag", p.Etag)
		return http.StatusOK, e.portJSON(p, v), nil
	case len(rest) == 1 && r.Method == http.MethodPut:
		return e.putPort(w, r, rg, name, v, rec)
	case len(rest) == 1 && r.Method == http.MethodPatch:
		return e.patchPort(w, r, rg, name, v)
	case len(rest) == 1 && r.Method == http.MethodDelete:
		return e.deletePort(w, rg, name, v)
	case len(rest) == 2 && lrest[1] == "links" && r.Method == http.MethodGet:
		e.mu.Lock()
		defer e.mu.Unlock()
		p, err := e.port(rg, name)
		if err != nil {
			return 0, nil, err
		}
		var ls []*linkJSON
		for _, l := range p.Links {
			ls = append(ls, e.linkJSON(p, l, v))
		}
		return http.StatusOK, map[string]any{"value": ls}, nil
	case len(rest) == 3 && lrest[1] == "links" && r.Method == http.MethodGet:
		e.mu.Lock()
		defer e.mu.Unlock()
		p, err := e.port(rg, name)
		if err != nil {
			return 0, nil, err
		}
		l := p.link(rest[2])
		if l == nil {
			return 0, nil, errorf(http.StatusNotFound, CodeLinkNotFound, "", "Link %s of ExpressRoute port %s was not found: a port has link1 and link2.", rest[2], name)
		}
		return http.StatusOK, e.linkJSON(p, l, v), nil
	case len(rest) == 2 && lrest[1] == "links":
		return 0, nil, errorf(http.StatusMethodNotAllowed, CodeUnsupportedMethod, "", "The links of an expressRoutePort are read-only: change them with a PUT of the whole port (GET it, edit links[], PUT it).")
	case len(rest) == 2 && lrest[1] == "generateloa" && r.Method == http.MethodPost:
		return e.generateLOA(r, rg, name)
	}
	return 0, nil, methodNotAllowed(r)
}

func methodNotAllowed(r *http.Request) *Error {
	return errorf(http.StatusMethodNotAllowed, CodeUnsupportedMethod, "", "The HTTP method '%s' is not supported at '%s'.", r.Method, r.URL.Path)
}

func (e *Emulator) metadata() any {
	return map[string]any{
		"galleryEndpoint": "", "graphEndpoint": "https://graph." + e.cfg.Domain + "/", "portalEndpoint": "https://portal." + e.cfg.Domain + "/",
		"authentication": map[string]any{"loginEndpoint": "https://" + e.hosts.login + "/adfs", "audiences": []string{e.armAudience() + "/"}},
	}
}

func (e *Emulator) subscriptionJSON() any {
	return map[string]any{
		"id": "/subscriptions/" + e.subscription, "subscriptionId": e.subscription, "tenantId": e.tenant,
		"displayName": "secylab " + e.cfg.Name, "state": "Enabled",
		"subscriptionPolicies": map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "secylab", "spendingLimit": "Off"},
		"authorizationSource":  "RoleBased",
	}
}

func (e *Emulator) groupJSON(rg string) any {
	return map[string]any{"id": "/subscriptions/" + e.subscription + "/resourceGroups/" + rg, "name": rg, "type": "Microsoft.Resources/resourceGroups",
		"location": e.cfg.Location, "properties": map[string]any{"provisioningState": "Succeeded"}}
}

func (e *Emulator) port(rg, name string) (*Port, *Error) {
	p := e.ports[strings.ToLower(rg+"/"+name)]
	if p == nil {
		return nil, errorf(http.StatusNotFound, CodeResourceNotFound, "", "The Resource 'Microsoft.Network/expressRoutePorts/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", name, rg)
	}
	return p, nil
}

func (e *Emulator) listPorts(r *http.Request, rg, av string) (int, any, *Error) {
	if !knownNetworkVersion(av) {
		return 0, nil, errorf(http.StatusBadRequest, CodeNoRegisteredProvider, "", "No registered resource provider found for API version '%s' for type 'expressRoutePorts'. The supported api-versions are '%s'.", av, strings.Join(networkAPIVersions, ", "))
	}
	skip := 0
	if t := r.URL.Query().Get("$skipToken"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return 0, nil, errorf(http.StatusBadRequest, "InvalidSkipToken", "$skipToken", "The $skipToken %q is not one this list gave: follow the nextLink of the page before.", t)
		}
		skip = n
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var all []*Port
	for _, k := range sortedKeys(e.ports) {
		if p := e.ports[k]; rg == "" || strings.EqualFold(p.ResourceGroup, rg) {
			all = append(all, p)
		}
	}
	page := e.cfg.PageSize
	if page <= 0 {
		page = 100
	}
	out := []*portJSON{}
	for _, p := range all[min(skip, len(all)):min(skip+page, len(all))] {
		out = append(out, e.portJSON(p, apiVersion(av)))
	}
	body := map[string]any{"value": out}
	if skip+page < len(all) {
		q := r.URL.Query()
		q.Set("$skipToken", strconv.Itoa(skip+page))
		body["nextLink"] = "https://" + e.hosts.management + r.URL.Path + "?" + q.Encode()
	}
	return http.StatusOK, body, nil
}

// readBody reads a request body as ARM does: malformed JSON is
// InvalidRequestFormat, a value of the wrong type InvalidRequestContent.
func readBody(r *http.Request, v any) *Error {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 4<<20))
	if err != nil {
		return errorf(http.StatusBadRequest, CodeInvalidRequestFormat, "", "Cannot parse the request: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errorf(http.StatusBadRequest, CodeInvalidRequestContent, te.Field, "The request content was invalid and could not be deserialized: %s is a %s, want %s.", te.Field, te.Value, te.Type)
		}
		return errorf(http.StatusBadRequest, CodeInvalidRequestFormat, "", "Cannot parse the request: %v", err)
	}
	return nil
}

// checkPreconditions applies If-Match and If-None-Match to a resource's
// etag ("" for none).
func checkPreconditions(r *http.Request, etag string) *Error {
	if m := r.Header.Get("If-Match"); m != "" && !(m == "*" && etag != "") && m != etag {
		return errorf(http.StatusPreconditionFailed, CodePreconditionFailed, "", "The condition specified using HTTP conditional header(s) is not met: If-Match %s, the resource's etag is %s.", m, orNone(etag))
	}
	if m := r.Header.Get("If-None-Match"); m != "" && etag != "" && (m == "*" || m == etag) {
		return errorf(http.StatusPreconditionFailed, CodePreconditionFailed, "", "The condition specified using HTTP conditional header(s) is not met: If-None-Match %s, the resource exists with etag %s.", m, etag)
	}
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "(none: the resource does not exist)"
	}
	return s
}

func (e *Emulator) putPort(w http.ResponseWriter, r *http.Request, rg, name string, v apiVersion, rec *Call) (int, any, *Error) {
	if !resourceName.MatchString(name) {
		return 0, nil, errorf(http.StatusBadRequest, CodeInvalidResourceName, "name", "Resource name %s is invalid. The name can be up to 80 characters long. It must begin with a word character, and it must end with a word character or with '_'. The name may contain word characters or '.', '-', '_'.", name)
	}
	var body portJSON
	if err := readBody(r, &body); err != nil {
		return 0, nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	key := strings.ToLower(rg + "/" + name)
	cur := e.ports[key]
	etag := ""
	if cur != nil {
		etag = cur.Etag
	}
	if err := checkPreconditions(r, etag); err != nil {
		return 0, nil, err
	}
	if cur != nil && cur.busy {
		return 0, nil, errorf(http.StatusConflict, CodeAnotherOperation, "", "Operation on expressRoutePorts %s is in progress: wait for it to end (its Azure-AsyncOperation) and retry.", name)
	}
	next, changes, err := e.checkPut(cur, rg, name, &body, v)
	if err != nil {
		return 0, nil, err
	}
	status := http.StatusOK
	if cur == nil {
		status = http.StatusCreated
		if pc, ok := e.bound[key]; ok {
			next.edge = pc.Edge
		}
	}
	prev := cur
	next.Etag = newEtag()
	for _, l := range next.Links {
		l.Etag = next.Etag
	}
	opID := newGUID()
	next.ProvisioningState = "Updating"
	next.busy = true
	e.ports[key] = next
	op := &asyncOp{status: "InProgress", start: time.Now()}
	e.ops[opID] = op
	var descr []string
	for _, c := range changes {
		descr = append(descr, describeChange(c))
	}
	rec.Detail = strings.Join(descr, "; ")
	if rec.Detail == "" {
		rec.Detail = "no link changed"
	}
	if next.edge == nil {
		changes = nil
	}
	undo := e.undoChanges(prev, changes)
	// The PUT goes on record before its operation can end, so that a
	// reader sees the call before its ASYNC outcome (rec.Status set: done).
	rec.Status = status
	e.record(*rec)
	e.wg.Add(1)
	go e.runOp(opID, op, next, prev, changes, undo)
	e.operationHeaders(w, next.Location, opID, v)
	return status, e.portJSON(next, v), nil
}

func describeChange(c LinkChange) string {
	s := c.Link + ": adminState " + map[bool]string{true: "Enabled", false: "Disabled"}[c.AdminEnabled]
	if m := c.MACsec; m != nil {
		s += ", MACsec " + m.Cipher.AzureName() + " sciState " + map[bool]string{true: "Enabled", false: "Disabled"}[m.IncludeSCI] +
			", CKN " + m.CKNSecretID + ", CAK " + m.CAKSecretID
	} else {
		s += ", MACsec off"
	}
	return s
}

// linkChange is what the edge runs for link l of port p as it stands.
func (e *Emulator) linkChange(p *Port, l *Link) LinkChange {
	ch := LinkChange{Port: p.Name, Link: l.Name, AdminEnabled: l.AdminState == "Enabled"}
	if l.MACsec.Enabled() {
		ch.MACsec, _ = e.linkMACsec(p, l)
	}
	return ch
}

// undoChanges lists, for each change, what puts its link back as prev
// had it: Disabled without MACsec for a link prev did not have.
func (e *Emulator) undoChanges(prev *Port, changes []LinkChange) []LinkChange {
	undo := make([]LinkChange, len(changes))
	for i, c := range changes {
		undo[i] = LinkChange{Port: c.Port, Link: c.Link}
		if prev != nil {
			if l := prev.link(c.Link); l != nil {
				undo[i] = e.linkChange(prev, l)
			}
		}
	}
	return undo
}

// runOp carries out the edge's part of a PUT: each changed link, in
// order. When the edge refuses one, the links it took already are put
// back (undo[i] undoes changes[i]), last first, so that a failed PUT
// leaves the edge as the port's links say, as before it.
func (e *Emulator) runOp(id string, op *asyncOp, next, prev *Port, changes, undo []LinkChange) {
	defer e.wg.Done()
	var ferr *Error
	for i, c := range changes {
		c.Operation = id
		err := next.edge.Apply(e.ctx, c)
		if err == nil {
			continue
		}
		ferr = errorf(http.StatusBadRequest, "ExpressRouteLinkUpdateFailed", c.Link, "The Microsoft edge did not take the change of %s: %v", c.Link, err)
		for j := i - 1; j >= 0; j-- {
			u := undo[j]
			u.Operation = id
			if err := next.edge.Apply(e.ctx, u); err != nil {
				ferr.Details = append(ferr.Details, *errorf(http.StatusInternalServerError, "ExpressRouteLinkUpdateFailed", u.Link,
					"%s could not be put back as it was: %v", u.Link, err))
				continue
			}
			ferr.Message += "; " + u.Link + " put back as it was"
		}
		break
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	next.busy = false
	op.end = time.Now()
	if ferr != nil {
		op.status, op.err = "Failed", ferr
		if prev != nil {
			next.Links = prev.clone().Links
		}
		next.ProvisioningState = "Failed"
		e.record(Call{Method: "ASYNC", Path: id, Status: http.StatusOK, Code: ferr.Code, Detail: ferr.Message})
		return
	}
	op.status = "Succeeded"
	next.ProvisioningState = "Succeeded"
	if len(changes) > 0 {
		e.record(Call{Method: "ASYNC", Path: id, Status: http.StatusOK, Detail: fmt.Sprintf("Succeeded: the Microsoft edge runs %d changed link(s)", len(changes))})
	}
}

func (e *Emulator) operationStatus(id string) (int, any, *Error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	op := e.ops[id]
	if op == nil {
		return 0, nil, errorf(http.StatusNotFound, CodeResourceNotFound, "", "Operation %s was not found.", id)
	}
	out := map[string]any{"id": id, "name": id, "status": op.status, "startTime": op.start.UTC().Format(time.RFC3339Nano)}
	if !op.end.IsZero() {
		out["endTime"] = op.end.UTC().Format(time.RFC3339Nano)
	}
	if op.err != nil {
		out["error"] = op.err
	}
	return http.StatusOK, out, nil
}

// checkPut makes the port a PUT asks for, by the rules of the Network
// resource provider, and lists the links that change.
func (e *Emulator) checkPut(cur *Port, rg, name string, b *portJSON, v apiVersion) (*Port, []LinkChange, *Error) {
	props := b.Properties
	if props == nil {
		props = &portPropsJSON{}
	}
	var next *Port
	if cur == nil {
		var missing []string
		if b.Location == "" {
			missing = append(missing, "location")
		}
		if props.PeeringLocation == "" {
			missing = append(missing, "properties.peeringLocation")
		}
		if props.BandwidthInGbps == nil {
			missing = append(missing, "properties.bandwidthInGbps")
		}
		if props.Encapsulation == "" {
			missing = append(missing, "properties.encapsulation")
		}
		if len(missing) > 0 {
			return nil, nil, errorf(http.StatusBadRequest, CodeInvalidRequestContent, missing[0], "A new expressRoutePort needs %s.", strings.Join(missing, ", "))
		}
		if pc, ok := e.bound[strings.ToLower(rg+"/"+name)]; ok && pc.BandwidthInGbps != 0 && *props.BandwidthInGbps != pc.BandwidthInGbps {
			return nil, nil, errorf(http.StatusBadRequest, CodeInvalidRequestContent, "properties.bandwidthInGbps", "The lab's port %s is %d Gbps: no port of %d Gbps is available at %s.", name, pc.BandwidthInGbps, *props.BandwidthInGbps, props.PeeringLocation)
		}
		next = e.newPort(rg, name, b.Location, props.PeeringLocation, *props.BandwidthInGbps, props.Encapsulation)
	} else {
		next = cur.clone()
		if props.PeeringLocation != "" && !strings.EqualFold(props.PeeringLocation, cur.PeeringLocation) {
			return nil, nil, errorf(http.StatusBadRequest, CodeReadOnlyProperty, "properties.peeringLocation", "The peering location of an ExpressRoute port cannot be changed (%s).", cur.PeeringLocation)
		}
		if props.Encapsulation != "" && !strings.EqualFold(props.Encapsulation, cur.Encapsulation) {
			return nil, nil, errorf(http.StatusBadRequest, CodeReadOnlyProperty, "properties.encapsulation", "The encapsulation of an ExpressRoute port cannot be changed while circuits use it (%s).", cur.Encapsulation)
		}
		if props.BandwidthInGbps != nil && *props.BandwidthInGbps != cur.BandwidthInGbps {
			return nil, nil, errorf(http.StatusBadRequest, CodeReadOnlyProperty, "properties.bandwidthInGbps", "The bandwidth of ExpressRoute port %s is %d Gbps: a port's bandwidth is the physical ports'.", name, cur.BandwidthInGbps)
		}
		if b.Location != "" && !strings.EqualFold(b.Location, cur.Location) {
			return nil, nil, errorf(http.StatusBadRequest, "LocationNotAvailableForResourceType", "location", "The location of a resource cannot be changed (%s).", cur.Location)
		}
	}
	switch props.Encapsulation {
	case "", "Dot1Q", "QinQ":
	default:
		return nil, nil, errorf(http.StatusBadRequest, CodeInvalidRequestContent, "properties.encapsulation", "encapsulation %q: want Dot1Q or QinQ.", props.Encapsulation)
	}
	if props.BillingType != "" && v.billingType() {
		if props.BillingType != "MeteredData" && props.BillingType != "UnlimitedData" {
			return nil, nil, errorf(http.StatusBadRequest, CodeInvalidRequestContent, "properties.billingType", "billingType %q: want MeteredData or UnlimitedData.", props.BillingType)
		}
		next.BillingType = props.BillingType
	}
	if b.Tags != nil {
		next.Tags = b.Tags
	}
	if err := e.checkIdentity(next, b.Identity); err != nil {
		return nil, nil, err
	}
	if len(props.Links) > 0 {
		seen := map[string]bool{}
		for i, lj := range props.Links {
			if lj == nil || next.link(lj.Name) == nil || seen[strings.ToLower(lj.Name)] {
				return nil, nil, errorf(http.StatusBadRequest, CodeLinksChanged, fmt.Sprintf("properties.links[%d].name", i), "An ExpressRoute port has exactly the links link1 and link2; they cannot be added, removed or renamed.")
			}
			seen[strings.ToLower(lj.Name)] = true
			if err := e.checkLink(next, next.link(lj.Name), lj, i, v); err != nil {
				return nil, nil, err
			}
		}
	}
	// The identity's reading of every link that runs MACsec and changes.
	var changes []LinkChange
	for _, l := range next.Links {
		var was *Link
		if cur != nil {
			was = cur.link(l.Name)
		}
		if was != nil && was.AdminState == l.AdminState && was.MACsec == l.MACsec {
			continue
		}
		if cur == nil && l.AdminState == "Disabled" && !l.MACsec.Enabled() {
			continue
		}
		ch := e.linkChange(next, l)
		if l.MACsec.Enabled() && (was == nil || was.MACsec != l.MACsec) {
			m, err := e.checkMACsec(next, l, v)
			if err != nil {
				return nil, nil, err
			}
			ch.MACsec = m
		}
		changes = append(changes, ch)
	}
	return next, changes, nil
}

func (e *Emulator) checkIdentity(p *Port, ij *identityJSON) *Error {
	if ij == nil {
		return nil
	}
	switch strings.ToLower(ij.Type) {
	case "none":
		p.Identity = ""
		return nil
	case "userassigned":
	default:
		return errorf(http.StatusBadRequest, CodeInvalidRequestContent, "identity.type", "identity type %q: an ExpressRoute port takes UserAssigned (or None).", ij.Type)
	}
	if len(ij.UserAssignedIdentities) != 1 {
		return errorf(http.StatusBadRequest, CodeInvalidRequestContent, "identity.userAssignedIdentities", "An ExpressRoute port takes exactly one user-assigned identity, not %d.", len(ij.UserAssignedIdentities))
	}
	for id := range ij.UserAssignedIdentities {
		got := e.identities[strings.ToLower(id)]
		if got == nil {
			return errorf(http.StatusBadRequest, CodeIdentityNotFound, "identity.userAssignedIdentities", "Resource '%s' was not found: the user-assigned identity must exist.", id)
		}
		p.Identity = got.ID
	}
	return nil
}

func (e *Emulator) checkLink(p *Port, l *Link, lj *linkJSON, i int, v apiVersion) *Error {
	at := fmt.Sprintf("properties.links[%d].properties", i)
	lp := lj.Properties
	if lp == nil {
		return nil
	}
	if lp.AdminState != nil {
		switch *lp.AdminState {
		case "Enabled", "Disabled":
			l.AdminState = *lp.AdminState
		default:
			return errorf(http.StatusBadRequest, CodeInvalidRequestContent, at+".adminState", "adminState %q: want Enabled or Disabled.", *lp.AdminState)
		}
	}
	m := lp.MacSecConfig
	if m == nil {
		return nil
	}
	if m.CknSecretIdentifier != nil {
		l.MACsec.CKNSecretIdentifier = *m.CknSecretIdentifier
	}
	if m.CakSecretIdentifier != nil {
		l.MACsec.CAKSecretIdentifier = *m.CakSecretIdentifier
	}
	if m.Cipher != nil {
		cs, ok := v.parseCipher(*m.Cipher)
		if !ok {
			return errorf(http.StatusBadRequest, CodeMacSecCipher, at+".macSecConfig.cipher", "cipher %q is not a MACsec cipher of api-version %s: want %s.", *m.Cipher, v, v.cipherNames())
		}
		l.MACsec.Cipher = cs.AzureName()
	}
	if m.SciState != nil && !v.legacyCipher() {
		switch *m.SciState {
		case "Enabled", "Disabled":
			l.MACsec.SCIState = *m.SciState
		default:
			return errorf(http.StatusBadRequest, CodeInvalidRequestContent, at+".macSecConfig.sciState", "sciState %q: want Enabled or Disabled.", *m.SciState)
		}
	}
	return nil
}

func (e *Emulator) linkMACsec(p *Port, l *Link) (*LinkMACsec, *Error) {
	cs, _ := apiVersion(BillingTypeVersion).parseCipher(l.MACsec.Cipher)
	m := &LinkMACsec{Cipher: cs, IncludeSCI: l.MACsec.SCIState == "Enabled", CKNSecretID: l.MACsec.CKNSecretIdentifier, CAKSecretID: l.MACsec.CAKSecretIdentifier}
	if p.Identity == "" {
		return m, nil
	}
	if id := e.identities[strings.ToLower(p.Identity)]; id != nil {
		m.Identity = id.ObjectID
	}
	return m, nil
}

// checkMACsec applies ExpressRoute's rules to a link's new macSecConfig:
// both secrets named, an identity that can read them, the key good for
// the cipher, no XPN cipher on a 10 Gbps port.
func (e *Emulator) checkMACsec(p *Port, l *Link, v apiVersion) (*LinkMACsec, *Error) {
	at := "properties.links[" + l.Name + "].properties.macSecConfig"
	m, _ := e.linkMACsec(p, l)
	switch {
	case m.CKNSecretID == "":
		return nil, errorf(http.StatusBadRequest, CodeMacSecKey, at+".cknSecretIdentifier", "MACsec on %s needs both cknSecretIdentifier and cakSecretIdentifier: the CKN is missing.", l.Name)
	case m.CAKSecretID == "":
		return nil, errorf(http.StatusBadRequest, CodeMacSecKey, at+".cakSecretIdentifier", "MACsec on %s needs both cknSecretIdentifier and cakSecretIdentifier: the CAK is missing.", l.Name)
	case p.Identity == "" || m.Identity == "":
		return nil, errorf(http.StatusBadRequest, CodeMacSecIdentity, "identity", "MACsec on %s: the port has no user-assigned identity to read the Key Vault secrets with: give it one (identity.type UserAssigned) that may get them.", l.Name)
	case m.Cipher.XPN() && p.BandwidthInGbps == expressroute.NoXPNPortGbps:
		return nil, errorf(http.StatusBadRequest, CodeMacSecXPN, at+".cipher", "%s: %s.", m.Cipher.AzureName(), expressroute.NoXPNReason(p.Name))
	}
	if _, err := e.readKey(m); err != nil {
		err.Target = at + "." + err.Target
		return nil, err
	}
	return m, nil
}

// ReadKey reads a link's CKN and CAK through the port's identity, as the
// Microsoft edge does, and parses them by Azure's rule for the cipher.
func (e *Emulator) ReadKey(m LinkMACsec) (expressroute.Key, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k, err := e.readKey(&m)
	if err != nil {
		return expressroute.Key{}, err
	}
	return k, nil
}

func (e *Emulator) readKey(m *LinkMACsec) (expressroute.Key, *Error) {
	who := "the port's identity"
	if p, ok := e.principals[m.Identity]; ok {
		who = "identity " + p.Name
	}
	read := func(field, id string) (string, *Error) {
		s, kerr := e.readSecretAs(m.Identity, id)
		if kerr != nil {
			d := *kerr
			return "", &Error{Status: http.StatusBadRequest, Code: CodeMacSecSecret, Target: field,
				Message: fmt.Sprintf("%s cannot read the secret %s: %s", who, id, kerr.Message), Details: []Error{d}}
		}
		return s, nil
	}
	ckn, err := read("cknSecretIdentifier", m.CKNSecretID)
	if err != nil {
		return expressroute.Key{}, err
	}
	cak, err := read("cakSecretIdentifier", m.CAKSecretID)
	if err != nil {
		return expressroute.Key{}, err
	}
	b := []byte(cak)
	defer clear(b)
	k, perr := expressroute.ParseKey(ckn, b, m.Cipher)
	if perr != nil {
		field := "cakSecretIdentifier"
		if strings.HasPrefix(perr.Error(), "CKN") {
			field = "cknSecretIdentifier"
		}
		return expressroute.Key{}, errorf(http.StatusBadRequest, CodeMacSecKey, field, "The secret does not hold a key for %s: %v.", m.Cipher.AzureName(), perr)
	}
	return k, nil
}

type tagsBody struct {
	Tags map[string]string `json:"tags"`
}

func (e *Emulator) patchPort(w http.ResponseWriter, r *http.Request, rg, name string, v apiVersion) (int, any, *Error) {
	var b tagsBody
	if err := readBody(r, &b); err != nil {
		return 0, nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p, err := e.port(rg, name)
	if err != nil {
		return 0, nil, err
	}
	if err := checkPreconditions(r, p.Etag); err != nil {
		return 0, nil, err
	}
	p.Tags = b.Tags
	p.Etag = newEtag()
	w.Header().Set("ETag", p.Etag)
	return http.StatusOK, e.portJSON(p, v), nil
}

// deletePort removes a port the long-running way the Network resource
// provider does: 202 Accepted with an Azure-AsyncOperation to poll and a
// Location that answers 204 once it is gone (a port that is not there is
// 204 at once).
func (e *Emulator) deletePort(w http.ResponseWriter, rg, name string, v apiVersion) (int, any, *Error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := strings.ToLower(rg + "/" + name)
	p := e.ports[key]
	if p == nil {
		return http.StatusNoContent, nil, nil
	}
	if p.edge != nil {
		return 0, nil, errorf(http.StatusBadRequest, "ExpressRoutePortInUse", "", "ExpressRoute port %s carries the lab's circuits: it cannot be deleted while the lab runs.", name)
	}
	if p.busy {
		return 0, nil, errorf(http.StatusConflict, CodeAnotherOperation, "", "Operation on expressRoutePorts %s is in progress: wait for it to end (its Azure-AsyncOperation) and retry.", name)
	}
	delete(e.ports, key)
	now := time.Now()
	opID := newGUID()
	e.ops[opID] = &asyncOp{status: "Succeeded", start: now, end: now}
	w.Header().Set("Location", e.operationHeaders(w, p.Location, opID, v)+"operationResults/"+opID+"?api-version="+string(v))
	return http.StatusAccepted, nil, nil
}

// operationHeaders points a client at a long-running operation's status
// and returns the base of its URLs.
func (e *Emulator) operationHeaders(w http.ResponseWriter, location, opID string, v apiVersion) string {
	base := fmt.Sprintf("https://%s/subscriptions/%s/providers/Microsoft.Network/locations/%s/", e.hosts.management, e.subscription, location)
	w.Header().Set("Azure-AsyncOperation", base+"operations/"+opID+"?api-version="+string(v))
	w.Header().Set("Retry-After", "1")
	return base
}

// operationResult is a long-running operation's Location: 202 while it
// runs, then 204, or its error.
func (e *Emulator) operationResult(w http.ResponseWriter, r *http.Request, id string) (int, any, *Error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	op := e.ops[id]
	switch {
	case op == nil:
		return 0, nil, errorf(http.StatusNotFound, CodeResourceNotFound, "", "Operation %s was not found.", id)
	case op.status == "InProgress":
		w.Header().Set("Location", "https://"+e.hosts.management+r.URL.RequestURI())
		w.Header().Set("Retry-After", "1")
		return http.StatusAccepted, nil, nil
	case op.err != nil:
		return 0, nil, op.err
	}
	return http.StatusNoContent, nil, nil
}

func (e *Emulator) generateLOA(r *http.Request, rg, name string) (int, any, *Error) {
	var b struct {
		CustomerName string `json:"customerName"`
	}
	if err := readBody(r, &b); err != nil {
		return 0, nil, err
	}
	if b.CustomerName == "" {
		return 0, nil, errorf(http.StatusBadRequest, CodeInvalidRequestContent, "customerName", "customerName is required.")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p, err := e.port(rg, name)
	if err != nil {
		return 0, nil, err
	}
	var s strings.Builder
	fmt.Fprintf(&s, "LETTER OF AUTHORIZATION (secylab lab)\nCustomer: %s\nPort: %s, %d Gbps at %s\n", b.CustomerName, p.Name, p.BandwidthInGbps, p.PeeringLocation)
	for _, l := range p.Links {
		fmt.Fprintf(&s, "%s: router %s interface %s patch panel %s rack %s connector %s\n", l.Name, l.RouterName, l.InterfaceName, l.PatchPanelID, l.RackID, l.ConnectorType)
	}
	return http.StatusOK, map[string]string{"encodedContent": base64.StdEncoding.EncodeToString([]byte(s.String()))}, nil
}

type identityBody struct {
	Location string            `json:"location"`
	Tags     map[string]string `json:"tags"`
}

func (e *Emulator) identityOp(r *http.Request, rg string, rest []string, av string) (int, any, *Error) {
	if !slices.Contains(identityAPIVersions, av) {
		return 0, nil, errorf(http.StatusBadRequest, CodeNoRegisteredProvider, "", "No registered resource provider found for API version '%s' for type 'userAssignedIdentities'. The supported api-versions are '%s'.", av, strings.Join(identityAPIVersions, ", "))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(rest) == 0 && r.Method == http.MethodGet {
		var out []any
		for _, k := range sortedKeys(e.identities) {
			if id := e.identities[k]; strings.EqualFold(id.ResourceGroup, rg) {
				out = append(out, e.identityJSON(id))
			}
		}
		return http.StatusOK, map[string]any{"value": out}, nil
	}
	if len(rest) != 1 {
		return 0, nil, methodNotAllowed(r)
	}
	id := e.identities[strings.ToLower(e.identityID(rg, rest[0]))]
	switch r.Method {
	case http.MethodGet:
		if id == nil {
			return 0, nil, errorf(http.StatusNotFound, CodeResourceNotFound, "", "The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/%s' under resource group '%s' was not found.", rest[0], rg)
		}
		return http.StatusOK, e.identityJSON(id), nil
	case http.MethodPut:
		var b identityBody
		if err := readBody(r, &b); err != nil {
			return 0, nil, err
		}
		status := http.StatusOK
		if id == nil {
			var err error
			if id, err = e.addIdentity(rg, rest[0]); err != nil {
				return 0, nil, errorf(http.StatusBadRequest, CodeInvalidResourceName, "name", "%v", err)
			}
			status = http.StatusCreated
		}
		return status, e.identityJSON(id), nil
	}
	return 0, nil, methodNotAllowed(r)
}

func (e *Emulator) identityJSON(id *Identity) any {
	return map[string]any{"id": id.ID, "name": id.Name, "type": "Microsoft.ManagedIdentity/userAssignedIdentities", "location": e.cfg.Location,
		"properties": map[string]any{"tenantId": e.tenant, "principalId": id.ObjectID, "clientId": id.ClientID}}
}
