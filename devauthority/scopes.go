package devauthority

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// oidcScopes are the OpenID Connect scopes the authority grants besides the API's own, the
// ones CLI.md names ("plus openid, profile, offline_access are granted; any other scope is
// invalid_scope"). Entra's v2 discovery document also lists email (panva/wellknown
// issuers/entra-common/entra-common.mjs); the contract leaves it out, and the discovery
// document lists only what is granted.
var oidcScopes = []string{"openid", "profile", "offline_access"}

// shortNamePattern is what an API scope or app role name may look like.
var shortNamePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })

// graphAppID is Microsoft Graph's application ID: Entra resolves a scope without a resource
// prefix ("execute") against Graph, which is why a bare scope fails there, and issues the
// access token of a request for OpenID scopes alone for Graph.
const graphAppID = "00000003-0000-0000-c000-000000000000"

// graphRegistration stands for Microsoft Graph when a request names OpenID scopes only (see
// parseScopes). It is never among Authority.apis, so no scope prefix resolves to it. Graph's
// tokens are v1 tokens whose aud is its application ID; the authority's own (v1) issuer signs
// them here, so only their audience tells a resource server they are not for it.
func graphRegistration() *apiRegistration {
	return &apiRegistration{id: graphAppID, uri: graphAppID, scopes: []string{"User.Read"}, version: 1}
}

// apiRegistration is an API app registration the authority knows: the main API or a
// downstream one. Like Entra's, each has an application (client) ID, an identifier URI (the
// scope prefix, the aud of v1 tokens and the only accepted RFC 8707 resource), the scopes it
// exposes, and the access token version it asks for.
type apiRegistration struct {
	id      string
	uri     string
	scopes  []string
	version int // 1 or 2
}

// exposes reports whether the API exposes the scope name (case-insensitively, as Entra).
func (r *apiRegistration) exposes(name string) bool {
	return slices.ContainsFunc(r.scopes, func(s string) bool { return strings.EqualFold(s, name) })
}

// apiFor returns the registration whose identifier URI or application ID is prefix,
// compared case-insensitively; nil when there is none.
func (a *Authority) apiFor(prefix string) *apiRegistration {
	p := strings.TrimRight(prefix, "/")
	for _, r := range a.apis {
		if strings.EqualFold(p, r.uri) || strings.EqualFold(p, r.id) {
			return r
		}
	}
	return nil
}

// scopeRequest is a parsed scope parameter.
type scopeRequest struct {
	requested []string // as sent, without duplicates: echoed back in this form
	api       []string // short names of the API scopes (what scp carries)
	dflt      bool     // <uri>/.default was asked for
	// aud is the API the access token is for: the one whose scopes were asked for (Entra
	// issues one token per resource), or Microsoft Graph when only OpenID scopes were.
	aud *apiRegistration
	// openid asks for an id_token; offline_access for a refresh token.
	openid  bool
	offline bool
}

// parseScopes splits a scope parameter and checks it the way Entra does, with Entra's error
// codes, because a development authority that granted anything would hide the mistakes that
// Entra reports in production:
//   - a scope without a resource prefix ("execute") is one of Microsoft Graph's: AADSTS650053;
//   - a prefix naming no registration: AADSTS500011 (resource principal not found);
//   - a scope the API does not expose: AADSTS65005;
//   - scopes of two APIs in one request: AADSTS28000 (one resource per token);
//   - an RFC 8707 resource that is not the identifier URI of the requested API, or any
//     resource with OpenID scopes alone: AADSTS9010010.
//
// <uri>/.default stands for every scope the API exposes. resource is the request's resource
// parameter, "" when absent.
func (a *Authority) parseScopes(param, resource string) (*scopeRequest, *oauthError) {
	sr := &scopeRequest{}
	seen := map[string]bool{}
	for _, s := range strings.Fields(param) {
		ls := strings.ToLower(s)
		if seen[ls] {
			continue
		}
		seen[ls] = true
		sr.requested = append(sr.requested, s)
		if slices.Contains(oidcScopes, ls) {
			sr.openid = sr.openid || ls == "openid"
			sr.offline = sr.offline || ls == "offline_access"
			continue
		}
		cut := strings.LastIndex(s, "/")
		if cut < 0 {
			// Entra has been seen to send this one as invalid_client
			// (damienbod/AspNetCoreMicrosoftGraph#1, MicrosoftDocs/azure-docs#67211); CLI.md
			// pins invalid_scope for any scope it does not grant, and clients (login too) go
			// by the AADSTS number, which is Entra's.
			return nil, errInvalidScope(aadstsScopeNotOnGraph, "The application asked for scope "+quoteScope(s)+" that doesn't exist on the resource '"+graphAppID+
				"'. A scope without a resource is Microsoft Graph's: request your API's scope in full, "+a.apis[0].uri+"/"+truncate(s, 40)+".")
		}
		prefix, name := s[:cut], s[cut+1:]
		api := a.apiFor(prefix)
		switch {
		case api == nil:
			return nil, &oauthError{400, "invalid_resource", aadstsResourceNotFound, "The resource principal named " + quoteScope(prefix) + " was not found in the tenant named " + a.cfg.Tenant +
				". This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."}
		case sr.aud != nil && sr.aud != api:
			return nil, errInvalidRequest(aadstsMultipleResources, "The provided value for the input parameter 'scope' is not valid because it contains more than one resource. Request one resource's scopes per token.")
		}
		sr.aud = api
		if name == ".default" {
			sr.dflt = true
			for _, n := range api.scopes {
				sr.addAPI(n)
			}
			continue
		}
		if !shortNamePattern().MatchString(name) || !api.exposes(name) {
			return nil, errInvalidScope(aadstsScopeNotExposed, "The application asked for scope "+quoteScope(name)+" that doesn't exist on the resource '"+api.uri+"'. Contact the app vendor.")
		}
		sr.addAPI(name)
	}
	if resource != "" {
		// Entra accepts the RFC 8707 resource parameter only when it is the identifier URI of
		// the API whose scopes are requested; the MCP specification has clients send the
		// server's URL there, so this is where spec-following hosts trip (AADSTS9010010).
		// The comparison is exact but for case: Entra refuses the identifier URI with a
		// trailing slash added (anthropics/claude-code#52871, "MCP OAuth appends trailing slash
		// to resource parameter, breaking Entra ID auth (AADSTS9010010)";
		// modelcontextprotocol/python-sdk#2580), and refuses a resource with OpenID scopes
		// alone, which name no API to match it (the same thread: "scopes are ordinary OIDC
		// (openid profile email offline_access) with no resource-prefixed match").
		if sr.aud == nil || !strings.EqualFold(resource, sr.aud.uri) {
			return nil, &oauthError{400, "invalid_target", aadstsResourceMismatch, "The resource parameter provided in the request doesn't match with the requested scopes."}
		}
	}
	if sr.aud == nil {
		// OpenID scopes alone: Entra issues the access token for Microsoft Graph (its device
		// code documentation's sample answer has "scope": "User.Read profile openid email",
		// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code), so a
		// client that forgot the API's scope gets a token every API refuses (401, wrong
		// audience), never one for the main API.
		sr.aud = a.graph
		for _, s := range sr.requested {
			if ls := strings.ToLower(s); ls != "offline_access" {
				sr.addAPI(ls)
			}
		}
		sr.addAPI("User.Read")
	}
	return sr, nil
}

// addAPI adds an API scope name once, comparing case-insensitively as Entra does.
func (sr *scopeRequest) addAPI(name string) {
	if !slices.ContainsFunc(sr.api, func(n string) bool { return strings.EqualFold(n, name) }) {
		sr.api = append(sr.api, name)
	}
}

// echo is the scope value of a token response: the scopes as the client asked for them, so
// that MSAL, which compares its own strings, finds every one of them.
func (sr *scopeRequest) echo() string { return strings.Join(sr.requested, " ") }

// quoteScope shortens and quotes a scope for an error description.
// Control characters become '?', so a scope echoed in an error cannot forge log lines.
func quoteScope(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return "'" + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s) + "'"
}

// isConfidential reports whether clientID is registered without public client flows
// (Config.ConfidentialClients).
func (a *Authority) isConfidential(clientID string) bool {
	return slices.ContainsFunc(a.cfg.ConfidentialClients, func(c string) bool { return strings.EqualFold(c, clientID) })
}

// requiresConsent reports whether the scope full (<uri>/<name>) of api is listed in
// Config.RequireConsent (full, or short for the main API).
func (a *Authority) requiresConsent(api *apiRegistration, name string) bool {
	full := api.uri + "/" + name
	return slices.ContainsFunc(a.cfg.RequireConsent, func(s string) bool {
		return strings.EqualFold(s, full) || (api == a.apis[0] && strings.EqualFold(s, name))
	})
}

// consentKey names a user's consent to a client for a full scope.
func consentKey(oid, clientID, full string) string {
	return strings.ToLower(oid + "|" + clientID + "|" + full)
}

// grantConsent records that the development user approved, on a sign-in page (or through
// AutoApprove, which stands for that approval), clientID's request for sr: from then on the
// non-interactive grants (On-Behalf-Of) may use those scopes for that user. Consent lives in
// memory: a restart forgets it, and the first sign-in after it gives it again.
func (a *Authority) grantConsent(clientID string, sr *scopeRequest) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, n := range sr.api {
		if a.requiresConsent(sr.aud, n) {
			a.consented[consentKey(a.userOID, clientID, sr.aud.uri+"/"+n)] = true
		}
	}
}

// checkConsent answers AADSTS65001 to a non-interactive request (On-Behalf-Of) of clientID for
// user oid naming a scope listed in Config.RequireConsent, until that user approved such a
// request of that client on a sign-in page (grantConsent). Entra answers so, again and again,
// until someone consents: "The user or administrator has not consented to use the application
// ... Send an interactive authorization request for this user and resource" (AADSTS65001,
// https://learn.microsoft.com/entra/identity-platform/reference-error-codes); retrying never
// helps there, so it must not help here.
func (a *Authority) checkConsent(oid, clientID string, sr *scopeRequest) *oauthError {
	for _, n := range sr.api {
		if !a.requiresConsent(sr.aud, n) {
			continue
		}
		full := sr.aud.uri + "/" + n
		a.mu.Lock()
		ok := a.consented[consentKey(oid, clientID, full)]
		a.mu.Unlock()
		if !ok {
			return errConsentRequired(clientID, full)
		}
	}
	return nil
}

// checkSignInConsent answers AADSTS65001 to the first sign-in request (device code or
// authorization) of clientID for a scope listed in Config.RequireConsent, and lets later ones
// through: a tenant where user consent is disabled, until an administrator allows the
// request, which the first failure stands for (issue 9's contract: "the first request for
// that scope fails with AADSTS65001, as where user consent is disabled"). Approving a later
// sign-in is then the user's consent (grantConsent), which On-Behalf-Of needs.
func (a *Authority) checkSignInConsent(clientID string, sr *scopeRequest) *oauthError {
	for _, n := range sr.api {
		if !a.requiresConsent(sr.aud, n) {
			continue
		}
		full := sr.aud.uri + "/" + n
		key := strings.ToLower(clientID + "|" + full)
		a.mu.Lock()
		first := !a.adminAllowed[key]
		a.adminAllowed[key] = true
		a.mu.Unlock()
		if first {
			return errConsentRequired(clientID, full)
		}
	}
	return nil
}

// errConsentRequired is Entra's AADSTS65001 for clientID and the full scope.
func errConsentRequired(clientID, full string) *oauthError {
	return errInvalidGrant(aadstsConsentRequired, "The user or administrator has not consented to use the application with ID '"+truncate(clientID, 64)+
		"' named '"+truncate(clientID, 64)+"'. Send an interactive authorization request for this user and resource. (scope "+quoteScope(full)+")")
}

// checkRequireConsent refuses a Config.RequireConsent entry that names no scope an API
// exposes: a misspelt one would silently disable the failure a test relies on.
func (a *Authority) checkRequireConsent() error {
	for _, s := range a.cfg.RequireConsent {
		api, name := a.apis[0], s
		if cut := strings.LastIndex(s, "/"); cut >= 0 {
			api, name = a.apiFor(s[:cut]), s[cut+1:]
		}
		if api == nil || !api.exposes(name) {
			return fmt.Errorf("%w: --require-consent %q names no scope an API exposes: use <identifier URI>/<name> or a short name of the main API (%s/%s)",
				ErrInvalidConfig, s, a.apis[0].uri, strings.Join(a.apis[0].scopes, ", "))
		}
	}
	return nil
}
