package devauthority

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"regexp"
	"strings"
	"sync"
)

// pageCSS is the only style of the pages, allowed by its hash in the Content-Security-Policy
// (no inline script exists at all).
const pageCSS = `body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.5}
h1{font-size:1.4rem}.warn{background:#fff4ce;padding:.5rem .75rem;border-left:4px solid #c19c00}
.error{background:#fde7e9;padding:.5rem .75rem;border-left:4px solid #c50f1f}
.result{background:#dff6dd;padding:.5rem .75rem;border-left:4px solid #107c10}
label{display:block;font-weight:600;margin:.5rem 0 .25rem}
input[type=text]{font-size:1.3rem;letter-spacing:.15em;text-transform:uppercase;padding:.4rem;width:12rem}
button{font-size:1rem;padding:.45rem 1.2rem;margin:.75rem .5rem 0 0;cursor:pointer}
button.primary{background:#0f6cbd;color:#fff;border:1px solid #0f6cbd}
code{background:#f0f0f0;padding:0 .25rem}footer{margin-top:2rem;font-size:.85rem;color:#616161}`

// styleHash is the CSP source of pageCSS.
var styleHash = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// pageTemplate is the one page of the authority: the code entry form, the consent screen
// or a message. html/template escapes every field by context, which matters because client
// IDs, redirect URIs and typed codes come from the request. Both forms carry the CSRF
// token; the consent form carries the user code or the transaction id, never the scopes or
// redirect URI themselves.
//
// Parsed on first use rather than at package init, which every command (serve included) would
// pay for in heap and touched code pages (issue 16: peak RSS).
var pageTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} - fastmcp-auth dev authority</title><style>` + pageCSS + `</style></head>
<body><main>
<h1>{{.Title}}</h1>
{{if .Error}}<p class="error" id="error" role="alert">{{.Error}}</p>{{end}}
{{if .Result}}<p class="result" id="result" role="status">{{.Result}}</p>{{end}}
{{if eq .Step "enter"}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="user_code">Enter the code shown on your device</label>
<input type="text" id="user_code" name="user_code" value="{{.UserCode}}" autocomplete="off" autocapitalize="characters" spellcheck="false" maxlength="20" required autofocus>
<div><button type="submit" class="primary" id="continue" name="action" value="continue">Continue</button></div>
</form>
{{else if eq .Step "consent"}}
<p><strong>{{.ClientID}}</strong> wants to sign in as <strong>{{.UserName}}</strong> ({{.Username}}) and get:</p>
<ul id="scopes">{{range .Scopes}}<li>{{.}}</li>{{else}}<li>no API access (sign-in only)</li>{{end}}</ul>
{{if .RedirectURI}}<p>You will be sent back to <code>{{.RedirectURI}}</code>.</p>{{end}}
<p class="warn">Approve only if you started this sign-in yourself just now.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
{{if .UserCode}}<input type="hidden" name="user_code" value="{{.UserCode}}">{{end}}
{{if .Txn}}<input type="hidden" name="txn" value="{{.Txn}}">{{end}}
<button type="submit" class="primary" id="approve" name="action" value="approve">Approve</button>
<button type="submit" id="decline" name="action" value="decline">Decline</button>
</form>
{{end}}
<footer>fastmcp-auth development authority: for local development only, never for production.</footer>
</main></body></html>
`))
})

// pageData fills pageTemplate.
type pageData struct {
	Title string
	// Title, Error and Result are the heading and the messages; Error and Result get the
	// IDs "error" and "result" browser tests look for.
	Step   string // "enter", "consent" or "" (a message only)
	Action string // form action path
	Error  string
	Result string
	// UserCode, ClientID, UserName, Username, Scopes and RedirectURI describe the sign-in
	// being approved; Txn is a pending /authorize request; CSRF is set by renderPage.
	UserCode    string
	ClientID    string
	UserName    string
	Username    string
	Scopes      []string
	RedirectURI string
	Txn         string
	CSRF        string
	// formTarget is an extra CSP form-action source: the origin the approval form redirects
	// to, since browsers apply form-action to the redirect after a form post.
	formTarget string
}

// consentData fills the consent screen.
func (a *Authority) consentData(action, clientID string, sr *scopeRequest, pd pageData) pageData {
	pd.Title = "Approve sign-in"
	pd.Step = "consent"
	pd.Action = action
	pd.ClientID = clientID
	pd.UserName = devUserName
	pd.Username = a.devUsername()
	for _, n := range sr.api {
		pd.Scopes = append(pd.Scopes, n+" ("+sr.aud.uri+"/"+n+")")
	}
	if sr.offline {
		pd.Scopes = append(pd.Scopes, "offline_access (stay signed in: a refresh token)")
	}
	return pd
}

// csrfCookie names the CSRF cookie. The __Host- prefix makes browsers accept it only with
// Secure, Path=/ and no Domain, so no other host (a sibling under the same name) can set or
// overwrite it: the cookie half of the double-submit check stays ours.
const csrfCookie = "__Host-dev-authority-csrf"

// originPattern is what may be added to the CSP form-action directive: a bare scheme://host,
// with no space or ';' that could smuggle another directive into the header.
var originPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^https?://[A-Za-z0-9.\-\[\]:]+$`) })

// setPageHeaders sets the headers every HTML page of the authority carries: a CSP that allows
// no source but the one given (a hashed script or style), sends forms only to formAction and
// refuses framing and <base>; X-Frame-Options DENY for browsers without frame-ancestors; no
// caching, as the pages hold codes and CSRF tokens; and the Referrer-Policy referrer.
func setPageHeaders(h http.Header, source, formAction, referrer string) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; "+source+"; form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", referrer)
}

// renderPage writes an HTML page with strict security headers: no script may run, only our
// own style applies, the page cannot be framed (clickjacking of the Approve button), and a
// CSRF token bound to a SameSite=Strict cookie is put in its forms.
func (a *Authority) renderPage(w http.ResponseWriter, r *http.Request, status int, pd pageData) {
	pd.CSRF = a.csrfToken(a.ensureCSRFCookie(w, r))
	formAction := "'self'"
	if pd.formTarget != "" && originPattern().MatchString(pd.formTarget) {
		formAction += " " + pd.formTarget
	}
	h := w.Header()
	// default-src 'none' with only our style forbids every script (the pages need none), so
	// an injection that escaped the template still could not run; frame-ancestors 'none' and
	// X-Frame-Options keep the Approve button out of any frame (clickjacking). same-origin,
	// not no-referrer: with no-referrer browsers send "Origin: null" on the form post, which
	// the Origin check would then refuse.
	setPageHeaders(h, "style-src "+styleHash, formAction, "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	w.WriteHeader(status)
	if err := pageTemplate().Execute(w, pd); err != nil {
		a.log.Error("could not render page", "err", err)
	}
}

// ensureCSRFCookie returns the browser's CSRF cookie value, setting a new one when absent.
func (a *Authority) ensureCSRFCookie(w http.ResponseWriter, r *http.Request) string {
	// A value of another length (not 32 random bytes in base64url) is not ours: replace it.
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	v := randomToken(32)
	// HttpOnly: no script reads it. SameSite=Strict: the browser never sends it with a
	// request started by another site, so a forged cross-site post arrives without it and
	// fails even if the attacker knew a token.
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return v
}

// csrfToken binds a form token to the cookie value with an HMAC under a per-process key: a
// cross-site attacker can neither read the cookie nor compute the token.
func (a *Authority) csrfToken(cookie string) string {
	m := hmac.New(sha256.New, a.csrfKey)
	m.Write([]byte(cookie))
	return b64(m.Sum(nil))
}

// checkCSRF verifies a form post: the token must match the cookie, and when the browser
// says where the post comes from (Origin, Sec-Fetch-Site) it must be this origin.
func (a *Authority) checkCSRF(r *http.Request) bool {
	// Origin and Sec-Fetch-Site are checked when present (older clients omit them); the
	// token check below does not depend on them.
	if o := r.Header.Get("Origin"); o != "" && !strings.EqualFold(o, a.base(r)) {
		return false
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" {
		return false
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	// hmac.Equal compares in constant time: no timing hint about the expected token.
	return hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(a.csrfToken(c.Value)))
}
