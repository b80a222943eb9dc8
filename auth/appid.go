package auth

import (
	"fmt"
	"net/url"
	"strings"
)

// DefaultScopeName is the API scope clients ask for and serve requires when nothing else is
// configured.
const DefaultScopeName = "execute"

// AppIDURI returns an API's identifier URI (Entra's "Application ID URI"): appIDURI when it is
// set, else Entra's default form api://<apiClientID>. It is "" when both are empty. A trailing
// slash is dropped, so that <uri>/<scope> never has two.
//
// The identifier URI is the prefix of the API's scopes in a request (Entra resolves a scope
// without one against Microsoft Graph, and fails with AADSTS65001 or AADSTS650053), the aud of
// its v1 tokens, and the only value Entra accepts as an RFC 8707 resource (AADSTS9010010
// otherwise). See https://learn.microsoft.com/entra/identity-platform/scopes-oidc.
func AppIDURI(apiClientID, appIDURI string) string {
	if u := strings.TrimRight(strings.TrimSpace(appIDURI), "/"); u != "" {
		return u
	}
	if id := strings.TrimSpace(apiClientID); id != "" {
		return "api://" + id
	}
	return ""
}

// CheckAppIDURI refuses a value that cannot be an identifier URI: Entra's are absolute URIs
// (api://..., https://..., urn:...) without query or fragment, and nothing here may contain
// spaces or quotes, since the value ends up in scope strings and WWW-Authenticate headers.
func CheckAppIDURI(uri string) error {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") || u.RawQuery != "" || u.Fragment != "" ||
		strings.ContainsAny(uri, " \t\"\\,") {
		return fmt.Errorf("the identifier URI must be an absolute URI such as api://<api-client-id> or https://mcp.example.com, not %q", uri)
	}
	return nil
}

// FullScope returns the scope as a client requests it: <appIDURI>/<name>. A name that already
// is a full scope (it contains "/") is returned unchanged, and so is a name when appIDURI is
// empty (nothing to prefix it with).
func FullScope(appIDURI, name string) string {
	if appIDURI == "" || strings.Contains(name, "/") {
		return name
	}
	return strings.TrimRight(appIDURI, "/") + "/" + name
}

// FullScopes applies FullScope to every name.
func FullScopes(appIDURI string, names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, FullScope(appIDURI, n))
	}
	return out
}

// ShortScope returns the name a token carries in scp for a scope given in the short form
// (execute) or in the full form of this API (<appIDURI>/execute, prefix compared
// case-insensitively, as Entra compares identifier URIs). ok is false for a full scope of
// another API, which no token for this one carries.
func ShortScope(appIDURI, scope string) (name string, ok bool) {
	if !strings.Contains(scope, "/") {
		return scope, scope != ""
	}
	prefix := strings.TrimRight(appIDURI, "/") + "/"
	if appIDURI == "" || len(scope) <= len(prefix) || !strings.EqualFold(scope[:len(prefix)], prefix) {
		return "", false
	}
	if name = scope[len(prefix):]; strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}
