package devauthority

import (
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/httpx"
	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// routes builds the handler: Entra's v2 paths under /{tenant}, plus the /device page.
func (a *Authority) routes() http.Handler {
	// Method patterns make the mux answer 405 for any other method, so no handler checks it.
	// The preflight is answered for any tenant: it reveals nothing, and the POST that follows
	// goes through tenantOnly.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", a.tenantOnly(a.handleDiscovery))
	mux.HandleFunc("GET /{tenant}/.well-known/openid-configuration", a.tenantOnly(a.handleDiscoveryV1))
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", a.tenantOnly(a.handleKeys))
	mux.HandleFunc("GET /{tenant}/discovery/keys", a.tenantOnly(a.handleKeys))
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/devicecode", a.tenantOnly(a.handleDeviceCode))
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", a.tenantOnly(a.handleToken))
	mux.HandleFunc("OPTIONS /{tenant}/oauth2/v2.0/token", a.handlePreflight)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", a.tenantOnly(a.handleAuthorize))
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/authorize", a.tenantOnly(a.handleAuthorizeDecision))
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/logout", a.tenantOnly(a.handleLogout))
	mux.HandleFunc("GET /device", a.handleDevicePage)
	mux.HandleFunc("POST /device", a.handleDeviceSubmit)
	mux.HandleFunc("GET /{$}", a.handleIndex)
	return a.middleware(mux)
}

// middleware bounds bodies, refuses Host headers that are not this loopback listener and
// logs requests at debug level (path only: queries may carry codes).
func (a *Authority) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// The Host check comes first, before any handler reads state. A page on attacker.example
		// whose name rebinds to 127.0.0.1 sends "Host: attacker.example": it is refused here,
		// behind TLS (whose leaf names only loopback) as a second line of defence.
		if !a.hostAllowed(r.Host) {
			// Defence against DNS rebinding: only the loopback names the TLS leaf covers.
			http.Error(w, "misdirected request: use https://127.0.0.1, localhost or [::1] with this port", http.StatusMisdirectedRequest)
			return
		}
		// Every body, form or not, is bounded before a handler reads it (readForm reports the
		// overflow as Entra does).
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		sw := httpx.NewStatusRecorder(w)
		next.ServeHTTP(sw, r)
		a.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.Status(), "duration", time.Since(start))
	})
}

// hostAllowed accepts Host values naming a loopback address with the listening port.
func (a *Authority) hostAllowed(hostport string) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	a.mu.Lock()
	ln := a.ln
	a.mu.Unlock()
	// Before Start (Handler served by a test server) any port passes; after it, only ours.
	if ln != nil && port != strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) {
		return false
	}
	return netx.IsLoopbackHost(host)
}

// base is the scheme and host the client addressed (already checked by hostAllowed). The
// discovery document and the issuer follow it, because MSAL requires the issuer's host:port
// to equal the authority's: a client using https://localhost:8443/dev gets localhost URLs.
func (a *Authority) base(r *http.Request) string { return "https://" + r.Host }

// issuerFor is the v2 issuer for a request: <base>/<tenant ID>/v2.0. Like Entra's it names the
// tenant by its GUID whatever segment the client used; MSAL checks only its host and port.
func (a *Authority) issuerFor(r *http.Request) string {
	return a.base(r) + "/" + a.tenantID + "/v2.0"
}

// issuerV1For is the v1 issuer for a request: <base>/<tenant ID>/, the counterpart of Entra's
// https://sts.windows.net/<tid>/.
func (a *Authority) issuerV1For(r *http.Request) string {
	return a.base(r) + "/" + a.tenantID + "/"
}

// tenantOnly answers Entra's "tenant not found" for any other tenant segment. Tenants match
// case-insensitively: MSAL lower-cases them for its cache but requests the original case.
func (a *Authority) tenantOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The tenant answers to its segment and to its GUID, as an Entra tenant answers to its
		// domain names and its ID.
		if t := r.PathValue("tenant"); !strings.EqualFold(t, a.cfg.Tenant) && !strings.EqualFold(t, a.tenantID) {
			writeOAuthError(w, r, a.cfg.Now(), errInvalidRequest(90002,
				"Tenant '"+truncate(r.PathValue("tenant"), 64)+"' not found. This development authority serves tenant '"+a.cfg.Tenant+"'."))
			return
		}
		h(w, r)
	}
}

// handleIndex names the authority and its sign-in page, for a person who opens the root URL.
func (a *Authority) handleIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write([]byte("fastmcp-auth development authority (not for production)\n" +
		"authority: " + a.base(r) + "/" + a.cfg.Tenant + "\n" +
		"sign-in page: " + a.base(r) + "/device\n"))
}

// handleDiscovery serves the OpenID Connect discovery document.
func (a *Authority) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	b := a.base(r) + "/" + a.cfg.Tenant
	// The members and their values follow Entra's own v2 document (a snapshot:
	// panva/wellknown issuers/entra-common/entra-common.mjs), because a client tested here must
	// meet what it meets there:
	//   - no code_challenge_methods_supported, although the authority requires S256 PKCE
	//     (RFC 7636 section 7.2, RFC 9700 section 2.1.1). Entra omits it, and MCP clients that
	//     refuse such an authorization server fail on Entra (vercel/ai#18674,
	//     anthropics/claude-ai-mcp#786, modelcontextprotocol/conformance#77): here they must too;
	//   - no grant_types_supported;
	//   - scopes_supported lists the OpenID scopes only, never an API's: a client that took its
	//     scopes from here would work only on this authority;
	//   - token_endpoint_auth_methods_supported has no "none"; of Entra's client_secret_post,
	//     private_key_jwt and client_secret_basic, private_key_jwt is left out because this
	//     authority refuses client assertions (AADSTS700027, see authenticateClient).
	// Subjects are pairwise: sub differs per client application, as Entra's does (see
	// pairwiseSub).
	doc := map[string]any{
		"issuer":                                a.issuerFor(r),
		"authorization_endpoint":                b + "/oauth2/v2.0/authorize",
		"token_endpoint":                        b + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         b + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  b + "/oauth2/v2.0/logout",
		"jwks_uri":                              b + "/discovery/v2.0/keys",
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"scopes_supported":                      oidcScopes,
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "name", "preferred_username", "oid", "tid", "nonce", "ver"},
		"request_uri_parameter_supported":       false,
		"tenant_region_scope":                   nil,
		"cloud_instance_name":                   "dev.localhost",
	}
	// Browser SPAs (MSAL.js, the web console) read discovery and keys cross-origin.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSONCacheable(w, doc)
}

// handleDiscoveryV1 serves the v1 OpenID Connect document at /<tenant>/.well-known/
// openid-configuration, as Entra does: its issuer is the v1 one (Entra's
// https://sts.windows.net/<tid>/), which is how a resource server learns the issuer of v1
// tokens (see Config.TokenVersion). The keys are the same. Entra's v1 document also names the
// v1 /oauth2/authorize and /oauth2/token endpoints; this authority serves neither (only the v2
// ones), so it does not advertise them: a client that followed them would meet 404s here.
func (a *Authority) handleDiscoveryV1(w http.ResponseWriter, r *http.Request) {
	b := a.base(r) + "/" + a.cfg.Tenant
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSONCacheable(w, map[string]any{
		"issuer":                                a.issuerV1For(r),
		"jwks_uri":                              b + "/discovery/keys",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

// handleKeys serves the JSON Web Key Set. Like Entra's, the keys carry no "alg" member, so
// verifiers tested here must take the algorithm from the token header (restricted to RS256
// for RSA keys), as they must with Entra.
func (a *Authority) handleKeys(w http.ResponseWriter, _ *http.Request) {
	pub := &a.km.signKey.PublicKey
	w.Header().Set("Access-Control-Allow-Origin", "*")
	writeJSONCacheable(w, map[string]any{"keys": []map[string]any{{
		"kty": "RSA",
		"use": "sig",
		"kid": a.km.kid,
		"n":   b64(pub.N.Bytes()),
		"e":   b64(bigEndian(pub.E)),
	}}})
}

// writeJSONCacheable writes a public document (discovery, key set). It is a separate name so
// that those answers could get a cache lifetime; today it sends writeJSON's no-store headers
// too, which only costs clients a refetch.
func writeJSONCacheable(w http.ResponseWriter, v any) {
	writeJSON(w, http.StatusOK, v)
}

// allowCORS lets the calling origin read the token endpoint's answer when it is a loopback
// origin (the web console, a local single-page app), and no other. Entra lets any registered
// SPA redeem codes cross-origin, but here there are no registrations, and with --auto-approve
// any web page the developer visits could run the code flow against this authority and read
// the developer's access and refresh tokens (issue 10). Vary is set either way: the answer
// depends on Origin.
func allowCORS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	o := r.Header.Get("Origin")
	if o == "" {
		return
	}
	h.Add("Vary", "Origin")
	if u, err := url.Parse(o); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Path == "" && netx.IsLoopbackHost(u.Host) {
		h.Set("Access-Control-Allow-Origin", o)
	}
}

// handlePreflight answers CORS preflight requests to the token endpoint, for loopback
// origins only (see allowCORS).
func (a *Authority) handlePreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	allowCORS(w, r)
	// No Access-Control-Allow-Credentials: the token endpoint reads no cookie, so a
	// cross-origin caller gets nothing a direct request would not give it.
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, client-request-id, return-client-request-id, x-client-sku, x-client-ver, x-client-os, x-client-cpu, x-app-name, x-app-ver, x-ms-lib-capability")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// handleLogout ends nothing (the authority keeps no browser session) and sends the browser
// back to post_logout_redirect_uri only when it is a loopback URL. Unlike /authorize, no code
// or state travels with this redirect, so nothing ties it to a request the user made: with no
// app registrations to check against, accepting any https target would make the authority an
// open redirector (a link through a trusted-looking origin to anywhere).
func (a *Authority) handleLogout(w http.ResponseWriter, r *http.Request) {
	if u := r.URL.Query().Get("post_logout_redirect_uri"); u != "" && validRedirectURI(u) && netx.IsLoopbackURL(u) {
		http.Redirect(w, r, u, http.StatusFound) //nolint:gosec // G710: only a registered loopback redirect URI, checked just above
		return
	}
	a.renderPage(w, r, http.StatusOK, pageData{Title: "Signed out", Result: "You are signed out. You can close this window."})
}

// readForm parses an application/x-www-form-urlencoded body (at most maxBody bytes) and
// refuses repeated parameters, as RFC 6749 section 3.2 requires.
func readForm(r *http.Request) (url.Values, *oauthError) {
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errInvalidRequest(aadstsTooLarge, "The request body is larger than 64 KiB.")
		}
		return nil, errInvalidRequest(aadstsMalformed, "The request body must be application/x-www-form-urlencoded.")
	}
	// A repeated parameter is ambiguous (which client_id, which code?): refusing it avoids
	// parameter-pollution tricks where two layers read different copies.
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, errInvalidRequest(aadstsMalformed, "The parameter '"+truncate(k, 40)+"' is repeated.")
		}
	}
	return r.PostForm, nil
}

// truncate makes client input safe to echo in an error description or a log: control
// characters become '?' (no forged log lines or headers) and it is cut to n bytes.
func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
