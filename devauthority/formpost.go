package devauthority

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"sync"
)

// formPostScript submits the form_post page's only form at once; it is allowed by its hash,
// so no other script can run on the page.
const formPostScript = `document.forms[0].submit()`

// formPostScriptHash is the CSP source of formPostScript.
var formPostScriptHash = func() string {
	sum := sha256.Sum256([]byte(formPostScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// formPostTemplate is the response_mode=form_post answer (OAuth 2.0 Form Post Response Mode,
// https://openid.net/specs/oauth-v2-form-post-response-mode-1_0.html): a form that posts the
// parameters to the redirect URI, submitted by script, or by hand without one. MSAL Go's
// interactive flow asks for it (apps/internal/base/base.go: "Use form_post response mode for
// interactive auth to avoid exposing the auth code in the URL") and its loopback listener
// accepts only POST (apps/internal/local/server.go), as Entra answers it.
//
// Parsed on first use rather than at package init, which every command (serve included) would
// pay for in heap and touched code pages (issue 16: peak RSS).
var formPostTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("formpost").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signing in</title></head>
<body><form method="post" action="{{.Action}}">{{range .Fields}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">{{end}}
<noscript><p>Script is off: press Continue to finish signing in.</p><button type="submit">Continue</button></noscript></form>
<script>` + formPostScript + `</script></body></html>
`))
})

// writeFormPost answers with the form_post page for redirectURI and the values v.
func writeFormPost(w http.ResponseWriter, redirectURI string, v url.Values) {
	type field struct{ Name, Value string }
	var fields []field
	for k, vals := range v {
		for _, val := range vals {
			fields = append(fields, field{k, val})
		}
	}
	sort.Slice(fields, func(i, j int) bool { return fields[i].Name < fields[j].Name })
	formAction := "'none'"
	if o := origin(redirectURI); originPattern().MatchString(o) {
		formAction = o
	}
	// Only the one script (by hash) runs, the form may go only to the redirect URI's origin,
	// and the page holds a code: no caching, no framing, no Referer.
	setPageHeaders(w.Header(), "script-src "+formPostScriptHash, formAction, "no-referrer")
	w.WriteHeader(http.StatusOK)
	_ = formPostTemplate().Execute(w, struct {
		Action string
		Fields []field
	}{redirectURI, fields})
}
