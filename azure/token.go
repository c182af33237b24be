package azure

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// Principal is who calls: the lab's service principal or a user-assigned
// managed identity (which only the emulator itself acts as, reading a
// port's secrets).
type Principal struct {
	ObjectID string // principalId
	ClientID string // appId / clientId
	Name     string
}

// ServicePrincipal is the identity a client logs in as with the client
// credentials grant: the lab generates its secret.
type ServicePrincipal struct {
	Principal
	Secret string
}

// TokenLifetime is how long an access token is good for.
const TokenLifetime = time.Hour

// claims are the access token's: a JWT (HS256 with the emulator's key),
// shaped like Entra ID's so that clients that look inside find what they
// expect.
type claims struct {
	Aud   string `json:"aud"`
	Iss   string `json:"iss"`
	Tid   string `json:"tid"`
	Oid   string `json:"oid"`
	AppID string `json:"appid"`
	Sub   string `json:"sub"`
	Iat   int64  `json:"iat"`
	Nbf   int64  `json:"nbf"`
	Exp   int64  `json:"exp"`
}

type tokenIssuer struct {
	key    []byte
	tenant string
	issuer string
	now    func() time.Time
}

func newTokenIssuer(tenant, issuer string) *tokenIssuer {
	k := make([]byte, 32)
	rand.Read(k)
	return &tokenIssuer{key: k, tenant: tenant, issuer: issuer, now: time.Now}
}

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

func (ti *tokenIssuer) issue(p Principal, aud string) (string, time.Time) {
	now := ti.now()
	exp := now.Add(TokenLifetime)
	c := claims{Aud: aud, Iss: ti.issuer, Tid: ti.tenant, Oid: p.ObjectID, AppID: p.ClientID, Sub: p.ObjectID,
		Iat: now.Unix(), Nbf: now.Unix() - 300, Exp: exp.Unix()}
	b, _ := json.Marshal(c)
	body := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(b)
	return body + "." + ti.sign(body), exp
}

func (ti *tokenIssuer) sign(body string) string {
	m := hmac.New(sha256.New, ti.key)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// check verifies a bearer token for an audience (one of auds) and returns
// its claims.
func (ti *tokenIssuer) check(r *http.Request, auds ...string) (*claims, *Error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return nil, errorf(http.StatusUnauthorized, CodeAuthFailed, "", "Authentication failed. The 'Authorization' header is missing.")
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || subtle.ConstantTimeCompare([]byte(ti.sign(parts[0]+"."+parts[1])), []byte(parts[2])) != 1 {
		return nil, errorf(http.StatusUnauthorized, CodeInvalidAuthToken, "", "The access token is invalid.")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c claims
	if err != nil || json.Unmarshal(b, &c) != nil {
		return nil, errorf(http.StatusUnauthorized, CodeInvalidAuthToken, "", "The access token is invalid.")
	}
	if ti.now().Unix() >= c.Exp {
		return nil, errorf(http.StatusUnauthorized, "ExpiredAuthenticationToken", "", "The access token expiry UTC time '%s' is earlier than current UTC time.", time.Unix(c.Exp, 0).UTC().Format(time.RFC1123))
	}
	for _, a := range auds {
		if strings.TrimSuffix(c.Aud, "/") == strings.TrimSuffix(a, "/") {
			return &c, nil
		}
	}
	return nil, errorf(http.StatusUnauthorized, CodeInvalidAuthToken, "", "The access token has an invalid audience %q: want %s.", c.Aud, strings.Join(auds, " or "))
}

// The token endpoint: the OAuth 2.0 client credentials grant, at the
// paths of Entra ID (/{tenant}/oauth2/v2.0/token, /{tenant}/oauth2/token)
// and of AD FS (/adfs/oauth2/token), with their OpenID configurations.
// MSAL clients (azure-cli, azidentity) discover the token endpoint there.
func (e *Emulator) serveLogin(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	seg := strings.Split(strings.TrimPrefix(path, "/"), "/")
	tenant := seg[0]
	if tenant != "adfs" && tenant != e.tenant && tenant != "organizations" && tenant != "common" {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_tenant", "AADSTS90002: Tenant '" + tenant + "' not found. This emulator's tenant is " + e.tenant + "."})
		return
	}
	base := "https://" + e.hosts.login + "/" + tenant
	rest := strings.Join(seg[1:], "/")
	switch {
	case rest == "common/discovery/instance" || tenant == "common" && rest == "discovery/instance":
		writeJSON(w, http.StatusOK, map[string]any{
			"tenant_discovery_endpoint": "https://" + e.hosts.login + "/" + e.tenant + "/v2.0/.well-known/openid-configuration",
			"api-version":               "1.1",
			"metadata":                  []map[string]any{{"preferred_network": e.hosts.login, "preferred_cache": e.hosts.login, "aliases": []string{e.hosts.login}}},
		})
	case strings.HasSuffix(rest, ".well-known/openid-configuration"):
		v2 := strings.HasPrefix(rest, "v2.0/")
		tokenPath, authPath, issuer := "/oauth2/token", "/oauth2/authorize", base
		if v2 {
			tokenPath, authPath, issuer = "/oauth2/v2.0/token", "/oauth2/v2.0/authorize", base+"/v2.0"
		}
		if tenant != "adfs" {
			base = "https://" + e.hosts.login + "/" + e.tenant
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                issuer,
			"authorization_endpoint":                base + authPath,
			"token_endpoint":                        base + tokenPath,
			"device_authorization_endpoint":         base + "/oauth2/devicecode",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post"},
			"response_types_supported":              []string{"token"},
			"grant_types_supported":                 []string{"client_credentials"},
			"tenant_region_scope":                   "secylab",
		})
	case rest == "oauth2/token" || rest == "oauth2/v2.0/token":
		e.serveToken(w, r)
	default:
		writeJSON(w, http.StatusNotFound, oauthError{"invalid_request", "AADSTS90000: no such endpoint: " + r.URL.Path})
	}
}

type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, oauthError{"invalid_request", "AADSTS900561: The endpoint only accepts POST requests."})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "AADSTS900144: the request body must be form-encoded: " + err.Error()})
		return
	}
	f := r.PostForm
	if g := f.Get("grant_type"); g != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, oauthError{"unsupported_grant_type", "AADSTS70003: grant_type " + g + " is not supported: this emulator takes client_credentials with a client secret."})
		return
	}
	sp := e.sp
	id, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok && id == "" {
		id, secret = u, p
	}
	if id != sp.ClientID {
		e.record(Call{Method: r.Method, Path: "token", Status: 400, Code: "unauthorized_client"})
		writeJSON(w, http.StatusBadRequest, oauthError{"unauthorized_client", "AADSTS700016: Application with identifier '" + id + "' was not found in the directory '" + e.tenant + "'."})
		return
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(sp.Secret)) != 1 {
		e.record(Call{Method: r.Method, Path: "token", Status: 401, Code: "invalid_client"})
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_client", "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '" + id + "'."})
		return
	}
	aud := f.Get("resource")
	if s := f.Get("scope"); s != "" {
		for _, sc := range strings.Fields(s) {
			if a, ok := strings.CutSuffix(sc, "/.default"); ok {
				aud = a
			}
		}
	}
	aud = strings.TrimSuffix(aud, "/")
	if aud != e.armAudience() && aud != e.vaultAudience() {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_resource", "AADSTS500011: The resource principal named " + aud + " was not found in the tenant: this emulator issues tokens for " + e.armAudience() + " and " + e.vaultAudience() + "."})
		return
	}
	tok, exp := e.tokens.issue(sp.Principal, aud)
	e.record(Call{Method: r.Method, Path: "token", Status: 200, Detail: "client credentials for " + aud})
	secs := int(time.Until(exp).Seconds())
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "expires_on": exp.Unix(),
		"resource": aud, "access_token": tok,
	})
}

// newID returns n random octets in hex.
func newID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newGUID returns a random (version 4) GUID.
func newGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
