package azure

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// A Key Vault: secrets with versions, soft-delete on (as ExpressRoute
// requires), and an access policy per principal: the secret permissions
// it holds (get, list, set, delete, recover, purge).
type vault struct {
	name    string
	secrets map[string]*secret // by lower-case name
	deleted map[string]*deletedSecret
	access  map[string][]string // object id → secret permissions
}

type secret struct {
	name     string
	versions []*secretVersion // oldest first
}

type secretVersion struct {
	version     string
	value       string
	contentType string
	enabled     bool
	tags        map[string]string
	created     time.Time
	updated     time.Time
}

type deletedSecret struct {
	*secret
	deleted time.Time
}

// SoftDeleteRetentionDays is the vault's soft-delete retention.
const SoftDeleteRetentionDays = 90

// Key Vault's data-plane api-versions the emulator takes.
var vaultAPIVersions = []string{"2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"}

// secretName is Key Vault's rule for secret names.
var secretName = regexp.MustCompile(`^[0-9a-zA-Z-]{1,127}$`)

// All secret permissions, as access policies spell them.
var allSecretPermissions = []string{"get", "list", "set", "delete", "recover", "backup", "restore", "purge"}

func (v *vault) allowed(oid, perm string) bool {
	return slices.Contains(v.access[oid], perm) || slices.Contains(v.access[oid], "all")
}

func (e *Emulator) vaultURL(name string) string { return "https://" + name + e.hosts.vaultSuffix }

func (e *Emulator) secretID(v *vault, s *secret, ver *secretVersion) string {
	return e.vaultURL(v.name) + "/secrets/" + s.name + "/" + ver.version
}

type secretBundle struct {
	Value       string            `json:"value,omitempty"`
	ID          string            `json:"id"`
	ContentType string            `json:"contentType,omitempty"`
	Attributes  secretAttributes  `json:"attributes"`
	Tags        map[string]string `json:"tags,omitempty"`
	// Deleted secrets.
	RecoveryID         string `json:"recoveryId,omitempty"`
	DeletedDate        int64  `json:"deletedDate,omitempty"`
	ScheduledPurgeDate int64  `json:"scheduledPurgeDate,omitempty"`
}

type secretAttributes struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	Created         int64  `json:"created,omitempty"`
	Updated         int64  `json:"updated,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	RecoverableDays int    `json:"recoverableDays,omitempty"`
}

func (e *Emulator) bundle(v *vault, s *secret, ver *secretVersion, withValue bool) secretBundle {
	en := ver.enabled
	b := secretBundle{
		ID: e.secretID(v, s, ver), ContentType: ver.contentType, Tags: ver.tags,
		Attributes: secretAttributes{Enabled: &en, Created: ver.created.Unix(), Updated: ver.updated.Unix(),
			RecoveryLevel: "Recoverable+Purgeable", RecoverableDays: SoftDeleteRetentionDays},
	}
	if withValue {
		b.Value = ver.value
	}
	return b
}

func kvError(status int, code, inner, format string, args ...any) *Error {
	e := errorf(status, code, "", format, args...)
	if inner != "" {
		e.Inner = &innerError{Code: inner}
	}
	return e
}

// serveVault is a vault's data plane. Callers without a token get Key
// Vault's challenge, which names the authority and the resource to ask a
// token for.
func (e *Emulator) serveVault(w http.ResponseWriter, r *http.Request, name string) {
	rec := Call{Method: r.Method, Path: "keyvault " + name + r.URL.Path}
	fail := func(err *Error) {
		rec.Status, rec.Code = err.Status, err.Code
		e.record(rec)
		writeError(w, err)
	}
	if r.Header.Get("Authorization") == "" {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="https://%s/%s", resource="%s"`, e.hosts.login, e.tenant, e.vaultAudience()))
		writeError(w, kvError(http.StatusUnauthorized, CodeKVUnauthorized, "", "AKV10000: Request is missing a Bearer or PoP token."))
		return
	}
	c, aerr := e.tokens.check(r, e.vaultAudience())
	if aerr != nil {
		aerr.Code = CodeKVUnauthorized
		fail(aerr)
		return
	}
	av := r.URL.Query().Get("api-version")
	if !slices.Contains(vaultAPIVersions, av) {
		fail(kvError(http.StatusBadRequest, CodeKVBadParameter, "", "The specified version (%s) is not recognized. Consider using the latest supported version (7.5).", av))
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	v := e.vaults[strings.ToLower(name)]
	if v == nil {
		fail(kvError(http.StatusNotFound, "VaultNotFound", "", "No vault %s in this emulator.", name))
		return
	}
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var status int
	var body any
	var err *Error
	switch {
	case len(seg) == 1 && seg[0] == "secrets" && r.Method == http.MethodGet:
		body, err = e.listSecrets(v, c.Oid, "", r)
	case len(seg) == 2 && seg[0] == "secrets" && r.Method == http.MethodPut:
		body, err = e.setSecret(v, c.Oid, seg[1], r)
	case len(seg) == 3 && seg[0] == "secrets" && seg[2] == "versions" && r.Method == http.MethodGet:
		body, err = e.listSecrets(v, c.Oid, seg[1], r)
	case (len(seg) == 2 || len(seg) == 3) && seg[0] == "secrets" && r.Method == http.MethodGet:
		ver := ""
		if len(seg) == 3 {
			ver = seg[2]
		}
		var b secretBundle
		if b, err = e.getSecret(v, c.Oid, seg[1], ver); err == nil {
			body = b
		}
	case len(seg) == 2 && seg[0] == "secrets" && r.Method == http.MethodDelete:
		body, err = e.deleteSecret(v, c.Oid, seg[1])
	case len(seg) == 1 && seg[0] == "deletedsecrets" && r.Method == http.MethodGet:
		body, err = e.listDeleted(v, c.Oid)
	case len(seg) == 2 && seg[0] == "deletedsecrets" && r.Method == http.MethodGet:
		body, err = e.getDeleted(v, c.Oid, seg[1])
	case len(seg) == 3 && seg[0] == "deletedsecrets" && seg[2] == "recover" && r.Method == http.MethodPost:
		body, err = e.recoverSecret(v, c.Oid, seg[1])
	case len(seg) == 2 && seg[0] == "deletedsecrets" && r.Method == http.MethodDelete:
		err = e.purgeSecret(v, c.Oid, seg[1])
		status = http.StatusNoContent
	default:
		err = kvError(http.StatusBadRequest, CodeKVBadParameter, "", "The request URI %s %s is not an operation of this vault's secrets.", r.Method, r.URL.Path)
	}
	if err != nil {
		fail(err)
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	rec.Status = status
	if b, ok := body.(secretBundle); ok && r.Method != http.MethodGet {
		rec.Detail = b.ID
	}
	e.record(rec)
	if body == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, body)
}

func (e *Emulator) denied(v *vault, oid, perm string) *Error {
	if v.allowed(oid, perm) {
		return nil
	}
	who := oid
	if p, ok := e.principals[oid]; ok {
		who = p.Name + " (object id " + oid + ")"
	}
	return kvError(http.StatusForbidden, CodeKVForbidden, "AccessDenied",
		"The user, group or application '%s' does not have secrets %s permission on key vault '%s'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287", who, perm, v.name)
}

func checkSecretName(name string) *Error {
	if !secretName.MatchString(name) {
		return kvError(http.StatusBadRequest, CodeKVBadParameter, "", "The request URI contains an invalid name: %s. Secret names are 1 to 127 characters: letters, digits and '-'.", name)
	}
	return nil
}

func notFound(v *vault, name, version string) *Error {
	if version != "" {
		return kvError(http.StatusNotFound, CodeKVNotFound, "", "A secret with (name/id) %s/%s was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", name, version)
	}
	return kvError(http.StatusNotFound, CodeKVNotFound, "", "A secret with (name/id) %s was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", name)
}

type setSecretBody struct {
	Value       *string           `json:"value"`
	ContentType string            `json:"contentType"`
	Tags        map[string]string `json:"tags"`
	Attributes  *struct {
		Enabled *bool `json:"enabled"`
	} `json:"attributes"`
}

func (e *Emulator) setSecret(v *vault, oid, name string, r *http.Request) (any, *Error) {
	if err := checkSecretName(name); err != nil {
		return nil, err
	}
	if err := e.denied(v, oid, "set"); err != nil {
		return nil, err
	}
	var b setSecretBody
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(&b); err != nil {
		return nil, kvError(http.StatusBadRequest, CodeKVBadParameter, "", "The request body is not a secret: %v", err)
	}
	if b.Value == nil {
		return nil, kvError(http.StatusBadRequest, CodeKVBadParameter, "", "Property value is required.")
	}
	key := strings.ToLower(name)
	if _, ok := v.deleted[key]; ok {
		return nil, kvError(http.StatusConflict, CodeKVConflict, "ObjectIsDeletedButRecoverable",
			"Secret %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.", name)
	}
	s := v.secrets[key]
	if s == nil {
		s = &secret{name: name}
		v.secrets[key] = s
	}
	now := time.Now()
	ver := &secretVersion{version: newID(16), value: *b.Value, contentType: b.ContentType, enabled: true, tags: b.Tags, created: now, updated: now}
	if b.Attributes != nil && b.Attributes.Enabled != nil {
		ver.enabled = *b.Attributes.Enabled
	}
	s.versions = append(s.versions, ver)
	return e.bundle(v, s, ver, true), nil
}

// lookup finds a secret's version ("" the current one).
func (v *vault) lookup(name, version string) (*secret, *secretVersion, *Error) {
	s := v.secrets[strings.ToLower(name)]
	if s == nil || len(s.versions) == 0 {
		return nil, nil, notFound(v, name, version)
	}
	if version == "" {
		return s, s.versions[len(s.versions)-1], nil
	}
	for _, ver := range s.versions {
		if ver.version == strings.ToLower(version) {
			return s, ver, nil
		}
	}
	return nil, nil, notFound(v, name, version)
}

func (e *Emulator) getSecret(v *vault, oid, name, version string) (secretBundle, *Error) {
	if err := checkSecretName(name); err != nil {
		return secretBundle{}, err
	}
	if err := e.denied(v, oid, "get"); err != nil {
		return secretBundle{}, err
	}
	s, ver, err := v.lookup(name, version)
	if err != nil {
		return secretBundle{}, err
	}
	if !ver.enabled {
		return secretBundle{}, kvError(http.StatusForbidden, CodeKVForbidden, "SecretDisabled", "Operation get is not allowed on a disabled secret.")
	}
	return e.bundle(v, s, ver, true), nil
}

type secretList struct {
	Value    []secretBundle `json:"value"`
	NextLink *string        `json:"nextLink"`
}

func (e *Emulator) listSecrets(v *vault, oid, name string, r *http.Request) (any, *Error) {
	if err := e.denied(v, oid, "list"); err != nil {
		return nil, err
	}
	var out secretList
	out.Value = []secretBundle{}
	if name != "" {
		s := v.secrets[strings.ToLower(name)]
		if s == nil {
			return nil, notFound(v, name, "")
		}
		for _, ver := range s.versions {
			out.Value = append(out.Value, e.bundle(v, s, ver, false))
		}
		return out, nil
	}
	for _, k := range sortedKeys(v.secrets) {
		s := v.secrets[k]
		b := e.bundle(v, s, s.versions[len(s.versions)-1], false)
		b.ID = e.vaultURL(v.name) + "/secrets/" + s.name
		out.Value = append(out.Value, b)
	}
	return out, nil
}

func (e *Emulator) deletedBundle(v *vault, d *deletedSecret) secretBundle {
	b := e.bundle(v, d.secret, d.versions[len(d.versions)-1], false)
	b.RecoveryID = e.vaultURL(v.name) + "/deletedsecrets/" + d.name
	b.DeletedDate = d.deleted.Unix()
	b.ScheduledPurgeDate = d.deleted.Add(SoftDeleteRetentionDays * 24 * time.Hour).Unix()
	return b
}

func (e *Emulator) deleteSecret(v *vault, oid, name string) (any, *Error) {
	if err := e.denied(v, oid, "delete"); err != nil {
		return nil, err
	}
	key := strings.ToLower(name)
	s := v.secrets[key]
	if s == nil {
		return nil, notFound(v, name, "")
	}
	delete(v.secrets, key)
	d := &deletedSecret{secret: s, deleted: time.Now()}
	v.deleted[key] = d
	return e.deletedBundle(v, d), nil
}

func (e *Emulator) listDeleted(v *vault, oid string) (any, *Error) {
	if err := e.denied(v, oid, "list"); err != nil {
		return nil, err
	}
	out := secretList{Value: []secretBundle{}}
	for _, k := range sortedKeys(v.deleted) {
		out.Value = append(out.Value, e.deletedBundle(v, v.deleted[k]))
	}
	return out, nil
}

func (e *Emulator) deletedNotFound(name string) *Error {
	return kvError(http.StatusNotFound, CodeKVNotFound, "", "Deleted Secret not found: %s", name)
}

func (e *Emulator) getDeleted(v *vault, oid, name string) (any, *Error) {
	if err := e.denied(v, oid, "list"); err != nil {
		return nil, err
	}
	d := v.deleted[strings.ToLower(name)]
	if d == nil {
		return nil, e.deletedNotFound(name)
	}
	return e.deletedBundle(v, d), nil
}

func (e *Emulator) recoverSecret(v *vault, oid, name string) (any, *Error) {
	if err := e.denied(v, oid, "recover"); err != nil {
		return nil, err
	}
	key := strings.ToLower(name)
	d := v.deleted[key]
	if d == nil {
		return nil, e.deletedNotFound(name)
	}
	delete(v.deleted, key)
	v.secrets[key] = d.secret
	return e.bundle(v, d.secret, d.versions[len(d.versions)-1], false), nil
}

func (e *Emulator) purgeSecret(v *vault, oid, name string) *Error {
	if err := e.denied(v, oid, "purge"); err != nil {
		return err
	}
	key := strings.ToLower(name)
	if v.deleted[key] == nil {
		return e.deletedNotFound(name)
	}
	delete(v.deleted, key)
	return nil
}

// SecretRef is a Key Vault secret identifier taken apart:
// https://{vault}.vault.{cloud}/secrets/{name}[/{version}].
type SecretRef struct {
	Vault, Name, Version string
}

// ParseSecretID takes a secret identifier apart; the vault must be one of
// this emulator's cloud.
func (e *Emulator) ParseSecretID(id string) (SecretRef, error) {
	u, err := url.Parse(id)
	if err != nil || u.Scheme != "https" {
		return SecretRef{}, fmt.Errorf("%q is not a Key Vault secret identifier: want https://<vault>%s/secrets/<name>/<version>", id, e.hosts.vaultSuffix)
	}
	vname, ok := strings.CutSuffix(strings.ToLower(u.Hostname()), e.hosts.vaultSuffix)
	seg := strings.Split(strings.Trim(u.Path, "/"), "/")
	if !ok || vname == "" || strings.Contains(vname, ".") || len(seg) < 2 || len(seg) > 3 || seg[0] != "secrets" {
		return SecretRef{}, fmt.Errorf("%q is not a Key Vault secret identifier: want https://<vault>%s/secrets/<name>/<version>", id, e.hosts.vaultSuffix)
	}
	ref := SecretRef{Vault: vname, Name: seg[1]}
	if len(seg) == 3 {
		ref.Version = seg[2]
	}
	return ref, nil
}

// readSecretAs reads a secret by its identifier as principal oid would
// (the port's identity): what ExpressRoute does with macSecConfig. The
// caller holds e.mu.
func (e *Emulator) readSecretAs(oid, id string) (string, *Error) {
	ref, err := e.ParseSecretID(id)
	if err != nil {
		return "", kvError(http.StatusBadRequest, CodeKVBadParameter, "", "%v", err)
	}
	v := e.vaults[ref.Vault]
	if v == nil {
		return "", kvError(http.StatusNotFound, "VaultNotFound", "", "No vault %s: the secret %s cannot be read.", ref.Vault, id)
	}
	b, kerr := e.getSecret(v, oid, ref.Name, ref.Version)
	if kerr != nil {
		return "", kerr
	}
	return b.Value, nil
}
