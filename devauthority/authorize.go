package devauthority

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// authRequest is an /authorize request waiting for the person's decision.
type authRequest struct {
	clientID    string
	redirectURI string
	state       string
	// nonce is copied into the id_token so the client can detect a replayed one
	// (OpenID Connect Core section 3.1.2.1).
	nonce string
	// challenge is the S256 code_challenge the code must later be redeemed against.
	challenge    string
	responseMode string // "query", "fragment" or "form_post"
	scopes       *scopeRequest
	expires      time.Time
}

// authCode is an issued authorization code. It is kept after redemption (until expiry) so
// that a second redemption is recognised and the tokens of the first are revoked (RFC 6749
// section 4.1.2).
type authCode struct {
	clientID    string
	redirectURI string
	challenge   string
	nonce       string
	scopes      *scopeRequest
	expires     time.Time
	// redeemed marks a code already exchanged; family names the refresh tokens that
	// exchange produced, so that a replay of the code can revoke them.
	redeemed bool
	family   string
}

// pkceVerifierPattern is RFC 7636's code_verifier (section 4.1: 43 to 128 unreserved
// characters); pkceChallengePattern an S256 code_challenge (the 43 unpadded base64url
// characters of a SHA-256 digest). Checking the shape refuses short, low-entropy verifiers.
var (
	pkceVerifierPattern  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`) })
	pkceChallengePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`) })
)

// validRedirectURI accepts https URLs and http URLs on loopback hosts (RFC 8252 section 7.3),
// without fragment or user info: the same rules Entra applies to SPA and native redirects.
// Any https URL is accepted because there are no app registrations to compare with: the
// consent page shows the URI, and the person approving is the developer who started the
// sign-in. No fragment (RFC 6749 section 3.1.2), no user info (https://good@evil.example
// would mislead the person reading the consent page), at most 2048 bytes.
func validRedirectURI(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Fragment != "" || u.User != nil || len(s) > 2048 {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return netx.IsLoopbackURL(s)
	}
	return false
}

// origin returns the scheme://host of s, the CSP form-action source of a consent page whose
// form redirects there; renderPage uses it only when it matches originPattern.
func origin(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// handleAuthorize is the authorization endpoint (code flow with PKCE). Errors that make the
// redirect URI untrustworthy are shown on a page; others go back to the client, as RFC 6749
// section 4.1.2.1 requires.
func (a *Authority) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k, v := range q {
		if len(v) > 1 {
			a.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign-in failed", Error: "The parameter '" + truncate(k, 40) + "' is repeated in the sign-in request."})
			return
		}
	}
	clientID, redirectURI := q.Get("client_id"), q.Get("redirect_uri")
	// Until client_id and redirect_uri are known good, errors go on a page, never to the
	// redirect URI: redirecting to an unchecked URI would make this an open redirector.
	if !validClientID(clientID) {
		a.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign-in failed", Error: "The sign-in request has no valid client_id. Fix the application's configuration."})
		return
	}
	if !validRedirectURI(redirectURI) {
		a.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign-in failed",
			Error: "The redirect_uri must be an https URL, or http on localhost, 127.0.0.1 or [::1], without a fragment. Fix the application's configuration."})
		return
	}
	// With --auto-approve nobody reads a consent page, so an https redirect URI would hand a
	// code (and, through the token endpoint, the developer's tokens) to any web site that
	// starts a sign-in: only this machine may receive one (issue 10).
	if a.cfg.AutoApprove && !netx.IsLoopbackURL(redirectURI) {
		a.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign-in failed",
			Error: "With --auto-approve the redirect_uri must be a loopback URL (http://localhost, 127.0.0.1 or [::1]). Restart the development authority without --auto-approve to approve other redirect URIs on the consent page."})
		return
	}
	mode := q.Get("response_mode")
	switch mode {
	case "", "query":
		mode = "query"
	case "fragment", "form_post":
	default:
		a.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign-in failed", Error: "The response_mode must be query, fragment or form_post."})
		return
	}
	req := &authRequest{clientID: clientID, redirectURI: redirectURI, state: q.Get("state"), nonce: q.Get("nonce"),
		challenge: q.Get("code_challenge"), responseMode: mode, expires: a.cfg.Now().Add(authRequestLifetime)}
	fail := func(code string, aadsts int, msg string) {
		a.redirectError(w, r, req, &oauthError{code: code, aadsts: aadsts, msg: msg})
	}
	if q.Get("response_type") != "code" {
		fail("unsupported_response_type", 70005, "The response_type must be 'code'.")
		return
	}
	// PKCE is required for every client and S256 is the only method: public clients have
	// no secret, so the verifier is what binds the code to the client that asked for it
	// (RFC 7636 section 1, RFC 9700 section 2.1.1). "plain" would put the verifier itself in
	// the browser's address bar and history.
	if req.challenge == "" {
		fail("invalid_request", 9002325, "Proof Key for Code Exchange is required: send code_challenge and code_challenge_method=S256.")
		return
	}
	if q.Get("code_challenge_method") != "S256" || !pkceChallengePattern().MatchString(req.challenge) {
		fail("invalid_request", 9002325, "The code_challenge_method must be S256 with a 43-character base64url code_challenge.")
		return
	}
	// prompt=consent asks for the consent screen even when consent was given before: Entra
	// accepts it wherever users may consent, and MCP clients (mcp-remote) send it.
	switch q.Get("prompt") {
	case "", "none", "login", "consent", "select_account":
	default:
		fail("invalid_request", 90023, "Invalid prompt value: use none, login, consent or select_account.")
		return
	}
	// The first sign-in for a scope needing consent fails (checkSignInConsent); a later one's
	// approval is the user's consent (grantConsent).
	sr, oerr := a.parseScopes(q.Get("scope"), q.Get("resource"))
	if oerr == nil {
		oerr = a.checkSignInConsent(clientID, sr)
		if oerr != nil {
			oerr.code = "consent_required" // the authorization endpoint's name for it
		}
	}
	if oerr != nil {
		fail(oerr.code, oerr.aadsts, oerr.msg)
		return
	}
	if len(sr.requested) == 0 {
		fail("invalid_request", aadstsInvalidRequest, "The request must contain the 'scope' parameter.")
		return
	}
	req.scopes = sr
	// The authority keeps no browser session (no cookie says who signed in), so a silent
	// (prompt=none) request is always answered as Entra answers it without a signed-in user:
	// interaction_required, AADSTS50058 (reference-error-codes: "A silent sign-in request was
	// sent but no user is signed in"). --auto-approve stands for the person at the page, not
	// for a session, so it does not change that.
	if q.Get("prompt") == "none" {
		fail("interaction_required", 50058, "A silent sign-in request was sent but no user is signed in.")
		return
	}
	if a.cfg.AutoApprove {
		a.redirectCode(w, r, req)
		return
	}
	// The request stays here under a random transaction id; the page carries only that id,
	// so a tampered form cannot change the redirect URI, scopes or challenge.
	txn := randomToken(24)
	now := a.cfg.Now()
	a.mu.Lock()
	a.pruneLocked(now)
	a.authReqs[txn] = req
	a.mu.Unlock()
	a.renderPage(w, r, http.StatusOK, a.consentData(r.URL.Path, clientID, sr, pageData{Txn: txn, RedirectURI: redirectURI, formTarget: origin(redirectURI)}))
}

// handleAuthorizeDecision takes the Approve or Decline of the consent screen.
func (a *Authority) handleAuthorizeDecision(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		a.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign-in failed", Error: "The form could not be read. Start the sign-in again from the application."})
		return
	}
	// Without the CSRF check, a page on another site could post "approve" for a request it
	// started, and receive a code for the dev user at its own redirect URI.
	if !a.checkCSRF(r) {
		a.renderPage(w, r, http.StatusForbidden, pageData{Title: "Sign-in failed",
			Error: "This form has expired or was sent from another site. Start the sign-in again from the application."})
		return
	}
	now := a.cfg.Now()
	txn := r.PostForm.Get("txn")
	a.mu.Lock()
	req, ok := a.authReqs[txn]
	// Deleted on first use: a double submit cannot mint two codes.
	delete(a.authReqs, txn)
	a.mu.Unlock()
	if !ok || now.After(req.expires) {
		a.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign-in failed",
			Error: "This sign-in request has expired or was already answered. Start the sign-in again from the application."})
		return
	}
	switch r.PostForm.Get("action") {
	case "approve":
		a.log.Info("authorization approved", "client_id", req.clientID)
		a.redirectCode(w, r, req)
	case "decline":
		a.log.Info("authorization declined", "client_id", req.clientID)
		a.redirectError(w, r, req, &oauthError{code: "access_denied", aadsts: 65004, msg: "User declined to consent to access the app."})
	default:
		a.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign-in failed", Error: "Choose Approve or Decline. Start the sign-in again from the application."})
	}
}

// redirectCode issues an authorization code and sends the browser back with it.
func (a *Authority) redirectCode(w http.ResponseWriter, r *http.Request, req *authRequest) {
	// Reached only through an approval (the page, or AutoApprove): the user consented.
	a.grantConsent(req.clientID, req.scopes)
	// 256 random bits: unguessable. Only the hash is kept (see hashToken). Each code starts
	// its own refresh-token family.
	code := "dev." + randomToken(32)
	now := a.cfg.Now()
	a.mu.Lock()
	a.pruneLocked(now)
	a.codes[hashToken(code)] = &authCode{clientID: req.clientID, redirectURI: req.redirectURI, challenge: req.challenge,
		nonce: req.nonce, scopes: req.scopes, expires: now.Add(authCodeLifetime), family: randomToken(12)}
	a.mu.Unlock()
	v := url.Values{"code": {code}}
	if req.state != "" {
		v.Set("state", req.state)
	}
	a.redirectWith(w, r, req, v)
}

// redirectError sends an OAuth error back to the client's redirect URI.
func (a *Authority) redirectError(w http.ResponseWriter, r *http.Request, req *authRequest, e *oauthError) {
	v := url.Values{"error": {e.code}, "error_description": {"AADSTS" + strconv.Itoa(e.aadsts) + ": " + e.msg}}
	if req.state != "" {
		v.Set("state", req.state)
	}
	a.redirectWith(w, r, req, v)
}

// redirectWith sends the browser to the client's redirect URI with v in the query or the
// fragment (response_mode). 303 See Other makes the browser GET it even after the consent
// form's POST, so the form (and its CSRF token) is never re-posted to the client.
func (a *Authority) redirectWith(w http.ResponseWriter, r *http.Request, req *authRequest, v url.Values) {
	if req.responseMode == "form_post" {
		writeFormPost(w, req.redirectURI, v)
		return
	}
	u, _ := url.Parse(req.redirectURI) // validated before
	if req.responseMode == "fragment" {
		// A fragment never reaches the server of the redirect URI nor its logs: what SPAs ask.
		u.Fragment = ""
		u.RawFragment = ""
		http.Redirect(w, r, u.String()+"#"+v.Encode(), http.StatusSeeOther)
		return
	}
	q := u.Query()
	for k, vals := range v {
		q[k] = vals
	}
	u.RawQuery = q.Encode()
	// The Location may carry the code: keep it out of caches, and send no Referer from this
	// authority with the request that follows the redirect.
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// grantAuthorizationCode redeems a code: single use, same client and redirect URI, a PKCE
// verifier matching the S256 challenge, within 10 minutes.
func (a *Authority) grantAuthorizationCode(r *http.Request, form url.Values, clientID string) (map[string]any, *oauthError) {
	code, verifier, redirectURI := form.Get("code"), form.Get("code_verifier"), form.Get("redirect_uri")
	switch {
	case code == "":
		return nil, errMissingParameter("code")
	case redirectURI == "":
		return nil, errMissingParameter("redirect_uri")
	case verifier == "":
		return nil, errMissingParameter("code_verifier")
	}
	now := a.cfg.Now()
	a.mu.Lock()
	// Every check and the redeemed mark happen under one lock, so two concurrent
	// redemptions of one code cannot both succeed.
	c, ok := a.codes[hashToken(code)]
	var oerr *oauthError
	// The client, redirect URI and verifier are checked before the replay: someone who only
	// saw the code (in a log, a proxy, the browser history) cannot redeem it, and must not be
	// able to revoke the real user's refresh tokens by replaying it either (issue 10).
	switch {
	case !ok:
		oerr = errInvalidGrant(aadstsInvalidGrant, "The provided authorization code is invalid or malformed.")
	case !strings.EqualFold(c.clientID, clientID):
		oerr = errInvalidGrant(aadstsClientMismatch, "The authorization code was issued to a different client.")
	// Exact match, as RFC 6749 section 4.1.3 requires of redirect_uri.
	case c.redirectURI != redirectURI:
		oerr = errInvalidGrant(500112, "The redirect_uri does not match the one of the authorization request.")
	// RFC 7636 section 4.6: the verifier's S256 hash must equal the stored challenge.
	case !pkceVerifierPattern().MatchString(verifier) || !pkceMatches(verifier, c.challenge):
		oerr = errInvalidGrant(aadstsPKCEMismatch, "The code_verifier does not match the code_challenge supplied in the authorization request.")
	case c.redeemed:
		// RFC 6749 section 4.1.2: a code used twice is refused, and the tokens issued from it
		// SHOULD be revoked. The replayer holds the verifier too, so either the client leaks
		// it or the code and verifier were both stolen: revoke what the first redemption got.
		a.refresh.revokeFamily(c.family)
		a.saveRefreshLocked()
		oerr = errInvalidGrant(aadstsCodeRedeemed, "OAuth2 Authorization code was already redeemed, please retry with a new valid code.")
	case now.After(c.expires):
		oerr = errInvalidGrant(aadstsCodeExpired, "The provided authorization code has expired. Sign in again.")
	default:
		c.redeemed = true
	}
	a.mu.Unlock()
	if oerr != nil {
		return nil, oerr
	}
	return a.tokenResponse(r, form, clientID, c.scopes, c.scopes, c.family, c.nonce)
}

// pkceMatches checks BASE64URL(SHA256(verifier)) == challenge in constant time (RFC 7636).
// The challenge is not secret, but a constant-time comparison costs nothing and leaves no
// timing signal to reason about.
func pkceMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(b64(sum[:])), []byte(challenge)) == 1
}
