package devauthority

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Grant types of the token endpoint. MSAL Go polls with the short "device_code"; RFC 8628
// clients send the URN: both are accepted.
const (
	grantDeviceCodeURN = "urn:ietf:params:oauth:grant-type:device_code"
	grantDeviceCode    = "device_code"
	grantRefresh       = "refresh_token"
	grantClientCreds   = "client_credentials"
	grantAuthCode      = "authorization_code"
	grantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer" //nolint:gosec // G101: the On-Behalf-Of grant type, not a credential
)

// handleToken is the token endpoint. Answers allow a loopback calling origin (CORS; see
// allowCORS): Entra lets single-page applications redeem codes cross-origin.
func (a *Authority) handleToken(w http.ResponseWriter, r *http.Request) {
	allowCORS(w, r)
	form, oerr := readForm(r)
	if oerr == nil {
		var resp map[string]any
		resp, oerr = a.grant(r, form)
		if oerr == nil {
			writeJSON(w, http.StatusOK, resp)
			return
		}
	}
	a.log.Info("token request refused", "grant_type", truncate(r.PostForm.Get("grant_type"), 60),
		"client_id", truncate(r.PostForm.Get("client_id"), 60), "error", oerr.code, "aadsts", oerr.aadsts)
	writeOAuthError(w, r, a.cfg.Now(), oerr)
}

// grant dispatches a token request by grant_type (RFC 6749 section 4). client_credentials
// and the On-Behalf-Of jwt-bearer grant are handled first because their client_id may come
// from HTTP Basic rather than the form; every other grant is a public client's and needs
// client_id in the form.
func (a *Authority) grant(r *http.Request, form url.Values) (map[string]any, *oauthError) {
	gt := form.Get("grant_type")
	if gt == "" {
		return nil, errMissingParameter("grant_type")
	}
	switch gt {
	case grantClientCreds:
		return a.grantClientCredentials(r, form)
	case grantJWTBearer:
		return a.grantOnBehalfOf(r, form)
	}
	clientID := form.Get("client_id")
	if clientID == "" {
		return nil, errMissingParameter("client_id")
	}
	if !validClientID(clientID) {
		return nil, errInvalidRequest(aadstsMalformed, "The client_id is not valid.")
	}
	if oerr := a.checkClientAuthentication(r, form, gt, clientID); oerr != nil {
		return nil, oerr
	}
	switch gt {
	case grantDeviceCode, grantDeviceCodeURN:
		return a.grantDevice(r, form, clientID)
	case grantRefresh:
		return a.grantRefresh(r, form, clientID)
	case grantAuthCode:
		return a.grantAuthorizationCode(r, form, clientID)
	default:
		return nil, &oauthError{400, "unsupported_grant_type", aadstsUnsupportedGrant,
			"The provided value for the input parameter 'grant_type' is not valid. Expected authorization_code, refresh_token, client_credentials or " + grantDeviceCodeURN + "."}
	}
}

// checkClientAuthentication applies Entra's client authentication rules to the delegated
// grants (reference-error-codes,
// https://learn.microsoft.com/entra/identity-platform/reference-error-codes):
//   - a client registered without public client flows (Config.ConfidentialClients) must
//     authenticate on every token request, the authorization code and refresh token grants
//     included: AADSTS7000218 without a secret, 7000215 with a wrong one. Its device code grant
//     is refused later in grantDevice, whatever it sends;
//   - any other client is public here, and a public client that presents a credential gets
//     AADSTS700025 ("Client is public so neither 'client_assertion' nor 'client_secret' should
//     be presented"). The confidential callers of this project (client credentials, the API's
//     On-Behalf-Of exchange) use other grants, which authenticateClient checks.
func (a *Authority) checkClientAuthentication(r *http.Request, form url.Values, gt, clientID string) *oauthError {
	_, _, basic := r.BasicAuth()
	presented := basic || form.Get("client_secret") != "" || form.Get("client_assertion") != ""
	if !a.isConfidential(clientID) {
		if presented {
			return errInvalidClient(aadstsPublicClientSecret, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
		}
		return nil
	}
	if gt == grantDeviceCode || gt == grantDeviceCodeURN {
		return nil
	}
	authenticated, oerr := a.authenticateClient(r, form)
	if oerr == nil && !strings.EqualFold(authenticated, clientID) {
		oerr = errInvalidRequest(aadstsMalformed, "The client_id differs from the HTTP Basic user name.")
	}
	return oerr
}

// clientIDPattern admits GUIDs and readable names alike, but no spaces, markup or controls.
var clientIDPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`) })

// validClientID accepts any plausible client ID: there are no registrations here, but the ID
// is shown on the approval page and put in tokens, so it must be plain text.
func validClientID(id string) bool { return clientIDPattern().MatchString(id) }

// tokenResponse mints the tokens of a delegated grant: the access token, the id_token when
// openid was asked for, a refresh token (in family) when offline_access was.
func (a *Authority) tokenResponse(r *http.Request, form url.Values, clientID string, req, consent *scopeRequest, family, nonce string) (map[string]any, *oauthError) {
	iss := a.issuerFor(r)
	at, err := a.mintUserAccessToken(userToken{r: r, api: req.aud, clientID: clientID, scp: req.api, lifetime: a.cfg.TokenLifetime})
	if err != nil {
		return nil, &oauthError{500, "server_error", 500011, "Could not sign the token."}
	}
	secs := int(a.cfg.TokenLifetime.Seconds())
	resp := map[string]any{
		"token_type":     "Bearer",
		"scope":          req.echo(),
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   at,
	}
	if req.openid || consent.openid {
		idt, err := a.mintIDToken(iss, clientID, nonce)
		if err != nil {
			return nil, &oauthError{500, "server_error", 500011, "Could not sign the token."}
		}
		resp["id_token"] = idt
	}
	// A refresh token only with offline_access, as Entra does. A new sign-in starts a new
	// family; a refresh passes its own family on, so that reuse detection can revoke every
	// token descended from one sign-in. It is saved (best effort, see saveRefreshLocked)
	// before the answer is sent.
	if consent.offline {
		if family == "" {
			family = randomToken(12)
		}
		a.mu.Lock()
		resp["refresh_token"] = a.refresh.issue(&refreshGrant{clientID: clientID, scopes: consent, family: family,
			expires: a.cfg.Now().Add(refreshTokenLifetime)})
		a.saveRefreshLocked()
		a.mu.Unlock()
	}
	if form.Get("client_info") == "1" {
		resp["client_info"] = a.clientInfo()
	}
	// Only who and what is logged, never the tokens themselves.
	a.log.Info("tokens issued", "client_id", clientID, "scp", strings.Join(req.api, " "), "refresh_token", consent.offline)
	return resp, nil
}

// grantRefresh redeems a refresh token (RFC 6749 section 6), retiring it and returning a new
// one. Rotation is what RFC 9700 section 4.14.2 asks of refresh tokens issued to public
// clients: with no client secret, detecting the reuse of a retired token (see refreshStore) is
// the only way to notice a stolen copy.
func (a *Authority) grantRefresh(r *http.Request, form url.Values, clientID string) (map[string]any, *oauthError) {
	rt := form.Get("refresh_token")
	if rt == "" {
		return nil, errMissingParameter("refresh_token")
	}
	now := a.cfg.Now()
	a.mu.Lock()
	a.refresh.prune(now)
	g, oerr := a.refresh.peek(rt, now)
	if oerr == nil && !strings.EqualFold(g.clientID, clientID) {
		oerr = errInvalidGrant(aadstsClientMismatch, "The refresh token was issued to a different client.")
	}
	var req *scopeRequest
	if oerr == nil {
		// The scope may narrow the consented one but never widen it (RFC 6749 section 6):
		// a client may ask for part of what the person consented to, never more.
		if strings.TrimSpace(form.Get("scope")) == "" {
			req = g.scopes
		} else if req, oerr = a.parseScopes(form.Get("scope"), form.Get("resource")); oerr == nil && (!g.allows(req) || req.aud != g.scopes.aud) {
			oerr = errInvalidGrant(aadstsConsentRequired, "The user or administrator has not consented to use the application for the requested scopes. Sign in again with these scopes.")
		}
	}
	if oerr == nil {
		// Retired only on success: a refused request (wrong client, wider scope) gets no new
		// token, so the presented one stays the current token of its family.
		a.refresh.retire(rt)
	}
	// Saves the retirement, or the family revoked by a reused token.
	a.saveRefreshLocked()
	a.mu.Unlock()
	if oerr != nil {
		return nil, oerr
	}
	return a.tokenResponse(r, form, clientID, req, g.scopes, g.family, "")
}

// grantClientCredentials issues an app-only token to a client presenting the configured
// secret, with every API scope as a role.
func (a *Authority) grantClientCredentials(r *http.Request, form url.Values) (map[string]any, *oauthError) {
	clientID, oerr := a.authenticateClient(r, form)
	if oerr != nil {
		return nil, oerr
	}
	// MSAL adds openid, profile and offline_access to every request; like Entra, ignore
	// them here. The one API scope must be .default: app permissions are all or nothing.
	scope := strings.TrimSpace(form.Get("scope"))
	sr, serr := a.parseScopes(scope, form.Get("resource"))
	apiScopes := 0
	if serr == nil {
		for _, s := range sr.requested {
			if !slices.Contains(oidcScopes, strings.ToLower(s)) {
				apiScopes++
			}
		}
	}
	if serr != nil || !sr.dflt || apiScopes != 1 {
		return nil, errInvalidScope(aadstsClientCredScope, "The provided value for scope "+quoteScope(scope)+
			" is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier: "+a.apis[0].uri+"/.default.")
	}
	at, err := a.mintAppAccessToken(r, clientID, sr.aud)
	if err != nil {
		return nil, &oauthError{500, "server_error", 500011, "Could not sign the token."}
	}
	secs := int(a.cfg.TokenLifetime.Seconds())
	a.log.Info("app token issued", "client_id", clientID, "roles", strings.Join(sr.aud.scopes, " "))
	return map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": at}, nil
}

// authenticateClient checks the client authentication of a confidential client's grant
// (client credentials, On-Behalf-Of): the configured secret, in the form or in HTTP Basic,
// and returns the client ID.
func (a *Authority) authenticateClient(r *http.Request, form url.Values) (string, *oauthError) {
	clientID, secret := form.Get("client_id"), form.Get("client_secret")
	if form.Get("client_assertion") != "" {
		// A certificate credential (RFC 7523 client assertion): Entra checks it against the
		// registration's certificates, and this authority has no certificate registrations.
		return "", errInvalidClient(aadstsInvalidClientAssertion, "The development authority takes no client assertions (certificates): use the client secret (--client-secret-file).")
	}
	// RFC 6749 section 2.3: a client uses one authentication method per request, so a
	// secret in both the form and the Basic header is refused rather than one picked.
	if u, p, ok := r.BasicAuth(); ok {
		if secret != "" {
			return "", errInvalidRequest(aadstsMalformed, "Use one client authentication method: client_secret or HTTP Basic, not both.")
		}
		// RFC 6749 section 2.3.1: Basic credentials are form-urlencoded first.
		uu, err1 := url.QueryUnescape(u)
		pp, err2 := url.QueryUnescape(p)
		if err1 != nil || err2 != nil {
			return "", errInvalidClient(aadstsInvalidSecret, "The HTTP Basic credentials are malformed.")
		}
		if clientID != "" && clientID != uu {
			return "", errInvalidRequest(aadstsMalformed, "The client_id differs from the HTTP Basic user name.")
		}
		clientID, secret = uu, pp
	}
	if clientID == "" {
		return "", errMissingParameter("client_id")
	}
	if !validClientID(clientID) {
		return "", errInvalidRequest(aadstsMalformed, "The client_id is not valid.")
	}
	// Any client ID presenting the one configured secret gets an app token: there are no
	// registrations to hold one secret per client. No configured secret, no grant.
	if a.cfg.ClientSecret == "" {
		return "", errInvalidClient(aadstsMissingSecret, "The client credentials and On-Behalf-Of grants are disabled: start dev-authority with --client-secret-file or FASTMCP_AUTH_DEV_CLIENT_SECRET.")
	}
	if secret == "" {
		return "", errMissingSecret()
	}
	// Compare digests in constant time, so neither the content nor the length of the
	// configured secret leaks through timing.
	want, got := sha256.Sum256([]byte(a.cfg.ClientSecret)), sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return "", errInvalidClient(aadstsInvalidSecret, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.")
	}
	return clientID, nil
}
