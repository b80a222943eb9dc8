package devauthority

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// authRequest is an /authorize request waiting for the person's decision.
type authRequest struct {
	clientID     string
	redirectURI  string
	state        string
	nonce        string
	challenge    string
	responseMode string // "query" or "fragment"
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
	redeemed    bool
	family      string
}

// pkcePattern is RFC 7636's code_verifier (43 to 128 unreserved characters); an S256
// code_challenge is 43 base64url characters.
var (
	pkceVerifierPattern  = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
	pkceChallengePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
)

// validRedirectURI accepts https URLs and http URLs on loopback hosts (RFC 8252 section 7.3),
// without fragment or user info: the same rules Entra applies to SPA and native redirects.
func validRedirectURI(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Fragment != "" || u.User != nil || len(s) > 2048 {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		if strings.EqualFold(h, "localhost") {
			return true
		}
		ip := net.ParseIP(h)
		return ip != nil && ip.IsLoopback()
	}
	return false
}

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
	if !validClientID(clientID) {
		a.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign-in failed", Error: "The sign-in request has no valid client_id. Fix the application's configuration."})
		return
	}
	if !validRedirectURI(redirectURI) {
		a.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign-in failed",
			Error: "The redirect_uri must be an https URL, or http on localhost, 127.0.0.1 or [::1], without a fragment. Fix the application's configuration."})
		return
	}
	mode := q.Get("response_mode")
	switch mode {
	case "", "query":
		mode = "query"
	case "fragment":
	default:
		a.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign-in failed", Error: "The response_mode must be query or fragment."})
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
	if req.challenge == "" {
		fail("invalid_request", 9002325, "Proof Key for Code Exchange is required: send code_challenge and code_challenge_method=S256.")
		return
	}
	if q.Get("code_challenge_method") != "S256" || !pkceChallengePattern.MatchString(req.challenge) {
		fail("invalid_request", 9002325, "The code_challenge_method must be S256 with a 43-character base64url code_challenge.")
		return
	}
	sr, oerr := parseScopes(q.Get("scope"), a.cfg.APIClientID, a.cfg.APIScopes)
	if oerr != nil {
		fail(oerr.code, oerr.aadsts, oerr.msg)
		return
	}
	if len(sr.requested) == 0 {
		fail("invalid_request", aadstsInvalidRequest, "The request must contain the 'scope' parameter.")
		return
	}
	req.scopes = sr
	if a.cfg.AutoApprove {
		a.redirectCode(w, r, req)
		return
	}
	if q.Get("prompt") == "none" {
		fail("interaction_required", 50058, "A silent sign-in request was sent but no user is signed in.")
		return
	}
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
	if !a.checkCSRF(r) {
		a.renderPage(w, r, http.StatusForbidden, pageData{Title: "Sign-in failed",
			Error: "This form has expired or was sent from another site. Start the sign-in again from the application."})
		return
	}
	now := a.cfg.Now()
	txn := r.PostForm.Get("txn")
	a.mu.Lock()
	req, ok := a.authReqs[txn]
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

func (a *Authority) redirectWith(w http.ResponseWriter, r *http.Request, req *authRequest, v url.Values) {
	u, _ := url.Parse(req.redirectURI) // validated before
	if req.responseMode == "fragment" {
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
		return nil, errInvalidRequest(aadstsInvalidRequest, "The request body must contain the following parameter: 'code'.")
	case redirectURI == "":
		return nil, errInvalidRequest(aadstsInvalidRequest, "The request body must contain the following parameter: 'redirect_uri'.")
	case verifier == "":
		return nil, errInvalidRequest(aadstsInvalidRequest, "The request body must contain the following parameter: 'code_verifier'.")
	}
	now := a.cfg.Now()
	a.mu.Lock()
	c, ok := a.codes[hashToken(code)]
	var oerr *oauthError
	switch {
	case !ok:
		oerr = errInvalidGrant(aadstsInvalidGrant, "The provided authorization code is invalid or malformed.")
	case c.redeemed:
		// A replayed code: revoke what the first redemption got.
		a.refresh.revokeFamily(c.family)
		a.saveRefreshLocked()
		oerr = errInvalidGrant(aadstsCodeRedeemed, "OAuth2 Authorization code was already redeemed, please retry with a new valid code.")
	case now.After(c.expires):
		oerr = errInvalidGrant(aadstsCodeExpired, "The provided authorization code has expired. Sign in again.")
	case !strings.EqualFold(c.clientID, clientID):
		oerr = errInvalidGrant(aadstsClientMismatch, "The authorization code was issued to a different client.")
	case c.redirectURI != redirectURI:
		oerr = errInvalidGrant(500112, "The redirect_uri does not match the one of the authorization request.")
	case !pkceVerifierPattern.MatchString(verifier) || !pkceMatches(verifier, c.challenge):
		oerr = errInvalidGrant(aadstsPKCEMismatch, "The code_verifier does not match the code_challenge supplied in the authorization request.")
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
func pkceMatches(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(b64(sum[:])), []byte(challenge)) == 1
}
