package devauthority

import (
	"crypto/rand"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// userCodeAlphabet has no vowels (no words can be spelled) and no look-alikes (0/O, 1/I/L
// are absent), as RFC 8628 section 6.1 suggests. Eight characters give about 34.6 bits.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// Rate limit of wrong user codes on the page: RFC 8628 section 5.1 asks for one, because a
// user code is short enough to guess. At 20 guesses a minute, a code pending for its full 15
// minutes faces 300 guesses against 20^8 (about 2.6e10) codes: odds of about 1 in 85 million.
const (
	maxCodeFailures    = 20
	codeFailuresWindow = time.Minute
)

// deviceState is where a device authorization stands: waiting for the person, approved
// (the next poll gets tokens) or declined (the next poll gets access_denied).
type deviceState int

const (
	statePending deviceState = iota
	stateApproved
	stateDeclined
)

// deviceCode is one device authorization (RFC 8628).
type deviceCode struct {
	// The device code is kept only as its hash (see hashToken). The user code is kept in
	// clear: the page looks it up by what the person types, and it is shown on screen anyway.
	hash     string // of the device_code
	userCode string // "BCDF-GHJK"
	clientID string
	scopes   *scopeRequest
	expires  time.Time
	state    deviceState
}

// handleDeviceCode starts a device authorization: POST /{tenant}/oauth2/v2.0/devicecode.
func (a *Authority) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	form, oerr := readForm(r)
	var resp map[string]any
	if oerr == nil {
		resp, oerr = a.startDevice(r, form)
	}
	if oerr != nil {
		writeOAuthError(w, r, a.cfg.Now(), oerr)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// startDevice validates a device authorization request (RFC 8628 section 3.1) and issues
// its device code and user code (section 3.2). The device code carries 256 random bits,
// since it alone redeems the tokens; the user code only needs to resist guessing within the
// rate limit.
func (a *Authority) startDevice(r *http.Request, form url.Values) (map[string]any, *oauthError) {
	clientID := form.Get("client_id")
	if clientID == "" {
		return nil, errMissingParameter("client_id")
	}
	if !validClientID(clientID) {
		return nil, errInvalidRequest(aadstsMalformed, "The client_id is not valid.")
	}
	// The first sign-in for a scope needing consent fails (checkSignInConsent); a later one's
	// approval is the user's consent (grantConsent).
	sr, oerr := a.parseScopes(form.Get("scope"), form.Get("resource"))
	if oerr == nil {
		oerr = a.checkSignInConsent(clientID, sr)
	}
	if oerr != nil {
		return nil, oerr
	}
	if len(sr.requested) == 0 {
		return nil, errMissingParameter("scope")
	}
	now := a.cfg.Now()
	dc := "dev." + randomToken(32)
	d := &deviceCode{hash: hashToken(dc), clientID: clientID, scopes: sr, expires: now.Add(deviceCodeLifetime)}
	if a.cfg.AutoApprove {
		d.state = stateApproved
		a.grantConsent(clientID, sr)
	}
	a.mu.Lock()
	a.pruneLocked(now)
	for {
		// Two pending authorizations must not share a user code, or approving one would
		// approve the other.
		d.userCode = newUserCode()
		if _, taken := a.userCodes[normalizeUserCode(d.userCode)]; !taken {
			break
		}
	}
	a.devices[d.hash] = d
	a.userCodes[normalizeUserCode(d.userCode)] = d
	a.mu.Unlock()
	a.log.Info("device code issued", "client_id", clientID, "auto_approved", a.cfg.AutoApprove)

	// message is Entra's wording, which MSAL shows to the person as it is. No
	// verification_uri_complete (RFC 8628 section 3.3.1): "The verification_uri_complete
	// response field is not included or supported at this time"
	// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code), so a client
	// tested here must not depend on it either.
	verify := a.base(r) + "/device"
	return map[string]any{
		"device_code":      dc,
		"user_code":        d.userCode,
		"verification_uri": verify,
		"expires_in":       int(deviceCodeLifetime.Seconds()),
		"interval":         deviceCodeInterval,
		"message": "To sign in, use a web browser to open the page " + verify + " and enter the code " +
			d.userCode + " to authenticate.",
	}, nil
}

// newUserCode returns a random XXXX-XXXX code from userCodeAlphabet.
func newUserCode() string {
	var b strings.Builder
	alphabetLen := big.NewInt(int64(len(userCodeAlphabet)))
	for i := 0; i < 8; i++ {
		if i == 4 {
			b.WriteByte('-')
		}
		n, err := rand.Int(rand.Reader, alphabetLen)
		if err != nil {
			panic(err) // crypto/rand never fails on supported platforms
		}
		b.WriteByte(userCodeAlphabet[n.Int64()])
	}
	return b.String()
}

// normalizeUserCode makes typed input comparable: upper case, without spaces and dashes.
// RFC 8628 section 6.1: comparing case-insensitively and ignoring punctuation spares the
// person retyping a code over a dash or a lower-case letter.
func normalizeUserCode(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// grantDevice answers a device code poll (RFC 8628 section 3.4), with the errors of
// section 3.5 in Entra's form: authorization_pending, expired_token, a decline, or tokens.
func (a *Authority) grantDevice(r *http.Request, form url.Values, clientID string) (map[string]any, *oauthError) {
	dc := form.Get("device_code")
	if dc == "" {
		return nil, errMissingParameter("device_code")
	}
	now := a.cfg.Now()
	a.mu.Lock()
	d, ok := a.devices[hashToken(dc)]
	var oerr *oauthError
	switch {
	case !ok:
		oerr = &oauthError{400, "bad_verification_code", aadstsBadVerificationCode, "The provided value for the input parameter 'device_code' is not valid."}
	// A device code redeems only for the client that asked for it.
	case !strings.EqualFold(d.clientID, clientID):
		oerr = errInvalidGrant(aadstsClientMismatch, "The device code was issued to a different client.")
	// A client registered without "Allow public client flows" must authenticate, and the
	// device code grant has no way to: Entra refuses it so, whatever the person decided.
	case a.isConfidential(clientID):
		a.removeDeviceLocked(d)
		oerr = errMissingSecret()
	case now.After(d.expires):
		// Kept (pruneLocked forgets it later), so that the page, and a later poll, still say
		// "expired" rather than "unknown code" after the client's poll saw the expiry.
		oerr = &oauthError{400, "expired_token", aadstsExpiredToken, "Verification code expired. Start the sign-in again."}
	case d.state == statePending:
		oerr = errPending()
	case d.state == stateDeclined:
		a.removeDeviceLocked(d)
		// RFC 8628 section 3.5's code, which the project's contract names for a declined
		// sign-in; Entra's device endpoint also answers authorization_declined for the same
		// case, and the login client accepts both.
		oerr = &oauthError{400, "access_denied", aadstsDeclined, "The user declined the sign-in request."}
	default: // approved: single use
		a.removeDeviceLocked(d)
	}
	a.mu.Unlock()
	if oerr != nil {
		return nil, oerr
	}
	return a.tokenResponse(r, form, clientID, d.scopes, d.scopes, "", "")
}

// removeDeviceLocked forgets d under both of its keys (a.mu held). The user code entry is
// removed only if it still points at d.
func (a *Authority) removeDeviceLocked(d *deviceCode) {
	delete(a.devices, d.hash)
	if a.userCodes[normalizeUserCode(d.userCode)] == d {
		delete(a.userCodes, normalizeUserCode(d.userCode))
	}
}

// pruneLocked forgets codes well past their expiry (expired ones are kept a while so that
// polls and the page can say "expired" rather than "unknown").
func (a *Authority) pruneLocked(now time.Time) {
	for _, d := range a.devices {
		if now.After(d.expires.Add(deviceCodeLifetime)) {
			a.removeDeviceLocked(d)
		}
	}
	for k, c := range a.codes {
		if now.After(c.expires.Add(authCodeLifetime)) {
			delete(a.codes, k)
		}
	}
	for k, q := range a.authReqs {
		if now.After(q.expires) {
			delete(a.authReqs, k)
		}
	}
	a.refresh.prune(now)
	cut := 0
	for cut < len(a.failures) && now.Sub(a.failures[cut]) > codeFailuresWindow {
		cut++
	}
	a.failures = a.failures[cut:]
}

// handleDevicePage shows the form where a person types the user code.
func (a *Authority) handleDevicePage(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("user_code")
	// Longer than any real code: not echoed back into the page.
	if len(code) > 20 {
		code = ""
	}
	a.renderPage(w, r, http.StatusOK, pageData{Title: "Sign in to a device", Step: "enter", UserCode: code, Action: "/device"})
}

// handleDeviceSubmit handles the two steps of the page: "continue" with a typed code shows
// the consent screen; "approve" or "decline" records the person's decision.
func (a *Authority) handleDeviceSubmit(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		a.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign in to a device", Step: "enter", Action: "/device",
			Error: "The form could not be read. Reload the page and try again."})
		return
	}
	if !a.checkCSRF(r) {
		a.renderPage(w, r, http.StatusForbidden, pageData{Title: "Sign in to a device", Step: "enter", Action: "/device",
			Error: "This form has expired or was sent from another site. Reload the page and enter the code again."})
		return
	}
	typed := r.PostForm.Get("user_code")
	action := r.PostForm.Get("action")
	now := a.cfg.Now()
	a.mu.Lock()
	a.pruneLocked(now)
	// The limit is checked before the lookup, so once it is reached even a right guess
	// learns nothing until the window moves on.
	if len(a.failures) >= maxCodeFailures {
		a.mu.Unlock()
		a.renderPage(w, r, http.StatusTooManyRequests, pageData{Title: "Sign in to a device", Step: "enter", Action: "/device",
			Error: "Too many wrong codes. Wait a minute, then try again."})
		return
	}
	d, ok := a.userCodes[normalizeUserCode(typed)]
	msg := ""
	switch {
	case !ok:
		// Only unknown codes count: an expired or used code was real, not a guess.
		a.failures = append(a.failures, now)
		msg = "That code is not right. Check the code shown on your device and try again."
	case now.After(d.expires):
		msg = "That code has expired. Start the sign-in again on your device to get a new code."
	case d.state != statePending:
		msg = "That code was already used. Start the sign-in again on your device if you need a new one."
	}
	if msg != "" {
		a.mu.Unlock()
		keep := typed
		if len(keep) > 20 {
			keep = ""
		}
		a.renderPage(w, r, http.StatusBadRequest, pageData{Title: "Sign in to a device", Step: "enter", Action: "/device", UserCode: keep, Error: msg})
		return
	}
	// Here the code is known and pending. "continue" only shows the consent screen; the
	// decision is recorded under the same lock that checked the state, so of two concurrent
	// Approve posts the second finds the code used.
	clientID, scopes, userCode := d.clientID, d.scopes, d.userCode
	switch action {
	case "approve":
		d.state = stateApproved
	case "decline":
		d.state = stateDeclined
	}
	a.mu.Unlock()

	switch action {
	case "approve":
		a.grantConsent(clientID, scopes)
		a.log.Info("device sign-in approved", "client_id", clientID)
		a.renderPage(w, r, http.StatusOK, pageData{Title: "Signed in", Result: "You have signed in to " + clientID +
			" as " + devUserName + ". You can close this window and return to your device."})
	case "decline":
		a.log.Info("device sign-in declined", "client_id", clientID)
		a.renderPage(w, r, http.StatusOK, pageData{Title: "Sign-in declined", Result: "You declined the sign-in. " +
			"The application on your device gets no access. You can close this window."})
	default:
		a.renderPage(w, r, http.StatusOK, a.consentData("/device", clientID, scopes, pageData{UserCode: userCode}))
	}
}
