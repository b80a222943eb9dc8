package devauthority

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"time"
)

// oauthError is an error answer of the token or device code endpoint, in the shape Entra ID
// gives it, so that clients written against Entra (and their error handling) see what they
// would see in production.
type oauthError struct {
	status int    // 400, or 401 for invalid_client
	code   string // the OAuth error: authorization_pending, invalid_grant, ...
	aadsts int    // the AADSTS number also listed in error_codes
	msg    string // the human part of error_description, after "AADSTSnnnnn: "
}

// Error formats e like the start of Entra's error_description, for logs and tests.
func (e *oauthError) Error() string { return fmt.Sprintf("%s: AADSTS%d: %s", e.code, e.aadsts, e.msg) }

// AADSTS numbers used by the authority. They follow Entra ID's published codes where one
// exists; Entra documents that clients must not depend on them, only on "error".
const (
	aadstsInvalidRequest         = 900144  // missing required parameter
	aadstsMalformed              = 9002313 // request malformed
	aadstsUnsupportedGrant       = 70003   // unsupported grant type
	aadstsInvalidScope           = 70011   // scope not valid
	aadstsClientCredScope        = 1002012 // client credentials need /.default
	aadstsPending                = 70016   // device flow: authorization pending
	aadstsBadVerificationCode    = 70018   // device flow: unknown device code
	aadstsExpiredToken           = 70019   // device flow: code expired
	aadstsDeclined               = 70020   // device flow: the user declined (see the notes on MSAL)
	aadstsInvalidGrant           = 70000   // grant invalid or malformed (unknown or reused refresh token)
	aadstsExpiredGrant           = 700082  // refresh token expired through inactivity
	aadstsRevokedGrant           = 50173   // refresh token revoked
	aadstsCodeExpired            = 70008   // authorization code expired
	aadstsCodeRedeemed           = 54005   // authorization code already redeemed
	aadstsPKCEMismatch           = 501481  // code_verifier does not match code_challenge
	aadstsRedirectMismatch       = 50011   // redirect URI differs
	aadstsClientMismatch         = 700005  // grant issued to another client
	aadstsConsentRequired        = 65001   // scope not consented in this grant
	aadstsInvalidSecret          = 7000215 // invalid client secret
	aadstsMissingSecret          = 7000218 // client secret required
	aadstsPublicClientSecret     = 700025  // a public client presented a secret or assertion
	aadstsTooLarge               = 90005   // request too large (our choice)
	aadstsScopeNotOnGraph        = 650053  // a bare scope, resolved against Microsoft Graph, does not exist there
	aadstsResourceNotFound       = 500011  // the resource principal (API) is not in the tenant
	aadstsScopeNotExposed        = 65005   // the API does not expose the scope
	aadstsResourceMismatch       = 9010010 // the resource parameter is not the identifier URI of the scopes' API
	aadstsMultipleResources      = 28000   // scopes of more than one resource in one request
	aadstsInvalidAssertion       = 50013   // On-Behalf-Of: assertion invalid (signature, issuer, audience)
	aadstsAssertionTime          = 500133  // On-Behalf-Of: assertion outside its valid time range
	aadstsInvalidClientAssertion = 700027  // client assertion failed validation
)

// errPending is the RFC 8628 section 3.5 answer to a poll before the person decided. MSAL
// expects it as HTTP 400, as Entra sends it, and keeps polling.
func errPending() *oauthError {
	return &oauthError{400, "authorization_pending", aadstsPending, "OAuth 2.0 device flow error. Authorization is pending. Continue polling."}
}

// errInvalidRequest, errInvalidGrant, errInvalidScope and errInvalidClient build the
// RFC 6749 section 5.2 errors of those names; invalid_client is a 401.
func errInvalidRequest(aadsts int, msg string) *oauthError {
	return &oauthError{400, "invalid_request", aadsts, msg}
}

func errInvalidGrant(aadsts int, msg string) *oauthError {
	return &oauthError{400, "invalid_grant", aadsts, msg}
}

func errInvalidScope(aadsts int, msg string) *oauthError {
	return &oauthError{400, "invalid_scope", aadsts, msg}
}

func errInvalidClient(aadsts int, msg string) *oauthError {
	return &oauthError{401, "invalid_client", aadsts, msg}
}

// errMissingParameter is Entra's answer to a token or device code request without a required
// form parameter.
func errMissingParameter(name string) *oauthError {
	return errInvalidRequest(aadstsInvalidRequest, "The request body must contain the following parameter: '"+name+"'.")
}

// errMissingSecret is Entra's answer to a client that must authenticate (a confidential one)
// and sent no secret.
func errMissingSecret() *oauthError {
	return errInvalidClient(aadstsMissingSecret, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
}

// correlationIDPattern limits the echoed client-request-id to a GUID-like token, so that the
// error body never reflects arbitrary input.
var correlationIDPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`) })

// writeOAuthError writes e as Entra's JSON error body. The correlation_id echoes the
// client-request-id header MSAL sends (a fresh one is made up when it is absent or odd).
func writeOAuthError(w http.ResponseWriter, r *http.Request, now time.Time, e *oauthError) {
	// trace_id is random: it correlates nothing here, but clients parse it.
	trace := newGUID()
	corr := r.Header.Get("client-request-id")
	if !correlationIDPattern().MatchString(corr) {
		corr = newGUID()
	}
	ts := now.UTC().Format("2006-01-02 15:04:05Z")
	body := map[string]any{
		"error": e.code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			e.aadsts, e.msg, trace, corr, ts),
		"error_codes":    []int{e.aadsts},
		"timestamp":      ts,
		"trace_id":       trace,
		"correlation_id": corr,
		"error_uri":      fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", e.aadsts),
	}
	if e.aadsts == aadstsConsentRequired {
		// Entra marks a missing consent so (invalid_grant + suberror), which clients such as
		// MSAL turn into an interaction-required error.
		body["suberror"] = "consent_required"
	}
	if e.status == http.StatusUnauthorized {
		// RFC 6749 section 5.2: a 401 to a client authentication failure names the scheme.
		w.Header().Set("WWW-Authenticate", `Basic realm="dev-authority"`)
	}
	writeJSON(w, e.status, body)
}

// writeJSON writes v with the no-store headers every token endpoint answer needs (RFC 6749
// section 5.1), so no proxy or browser cache keeps a token.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newGUID returns a random version 4 UUID string.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b[:])
}

// formatGUID writes the first 16 bytes of b in the 8-4-4-4-12 hex form of a GUID.
func formatGUID(b []byte) string {
	h := hex.EncodeToString(b[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
