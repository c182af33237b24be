package azure

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error is a refusal in Azure's error envelope:
// {"error":{"code","message","target","details"}} (ARM) or
// {"error":{"code","message","innererror":{"code"}}} (Key Vault).
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Target  string `json:"target,omitempty"`
	// Details are ARM's; Inner is Key Vault's innererror code.
	Details []Error     `json:"details,omitempty"`
	Inner   *innerError `json:"innererror,omitempty"`
}

type innerError struct {
	Code string `json:"code"`
}

func (e *Error) Error() string {
	if e.Target != "" {
		return fmt.Sprintf("%s (%s): %s", e.Code, e.Target, e.Message)
	}
	return e.Code + ": " + e.Message
}

func errorf(status int, code, target, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Target: target, Message: fmt.Sprintf(format, args...)}
}

// ARM's and Key Vault's codes for what the emulator refuses. The generic
// ones are ARM's and Key Vault's documented codes; Azure does not publish
// the codes of the Network resource provider's MACsec checks, so those
// name the rule (see the README).
const (
	CodeMissingAPIVersion     = "MissingApiVersionParameter"
	CodeNoRegisteredProvider  = "NoRegisteredProviderFound" // an api-version the type does not have
	CodeInvalidRequestFormat  = "InvalidRequestFormat"      // a body that does not parse
	CodeInvalidRequestContent = "InvalidRequestContent"     // a value of the wrong type or spelling
	CodePreconditionFailed    = "PreconditionFailed"        // If-Match / If-None-Match
	CodeResourceNotFound      = "ResourceNotFound"
	CodeResourceGroupNotFound = "ResourceGroupNotFound"
	CodeSubscriptionNotFound  = "SubscriptionNotFound"
	CodeInvalidAuthToken      = "InvalidAuthenticationToken"
	CodeAuthFailed            = "AuthenticationFailed"
	CodeLinkedAuthFailed      = "LinkedAuthorizationFailed"
	CodeInvalidResourceName   = "InvalidResourceName"
	CodeAnotherOperation      = "AnotherOperationInProgress"
	CodeUnsupportedMethod     = "HttpMethodNotSupported"

	// The MACsec checks of an expressRoutePort.
	CodeMacSecCipher     = "ExpressRoutePortMacSecInvalidCipher"
	CodeMacSecXPN        = "ExpressRoutePortMacSecXpnNotSupportedOnBandwidth"
	CodeMacSecSecret     = "ExpressRoutePortMacSecSecretNotAccessible"
	CodeMacSecKey        = "ExpressRoutePortMacSecInvalidKey"
	CodeMacSecIdentity   = "ExpressRoutePortMacSecIdentityRequired"
	CodeLinkNotFound     = "ExpressRouteLinkNotFound"
	CodeLinksChanged     = "ExpressRoutePortLinksCannotBeAddedOrRemoved"
	CodeReadOnlyProperty = "ExpressRoutePortPropertyCannotBeChanged"
	CodeIdentityNotFound = "UserAssignedIdentityNotFound"

	// Key Vault.
	CodeKVBadParameter = "BadParameter"
	CodeKVNotFound     = "SecretNotFound"
	CodeKVForbidden    = "Forbidden"
	CodeKVConflict     = "Conflict"
	CodeKVUnauthorized = "Unauthorized"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	w.Header().Set("x-ms-error-code", e.Code)
	writeJSON(w, e.Status, map[string]*Error{"error": e})
}
