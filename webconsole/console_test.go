package webconsole

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// newFakeAuthority serves a discovery document naming endpoints on itself and records the
// paths it was asked for.
func newFakeAuthority(t *testing.T, doc func(base string) any) (*httptest.Server, *[]string) {
	t.Helper()
	var paths []string
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.Path)
		if r.URL.Path != "/contoso/v2.0/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc(srv.URL))
	}))
	t.Cleanup(srv.Close)
	return srv, &paths
}

func entraLikeDoc(base string) any {
	return map[string]string{
		"issuer":                 base + "/contoso/v2.0",
		"authorization_endpoint": base + "/contoso/oauth2/v2.0/authorize",
		"token_endpoint":         base + "/contoso/oauth2/v2.0/token",
		"jwks_uri":               base + "/contoso/discovery/v2.0/keys",
	}
}

func newConsole(t *testing.T, cfg Config) *Console {
	t.Helper()
	c, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func get(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Result()
}

func TestConfigJSONFromDiscovery(t *testing.T) {
	t.Parallel()
	idp, paths := newFakeAuthority(t, entraLikeDoc)
	c := newConsole(t, Config{
		Authority:  idp.URL + "/contoso/",
		ClientID:   "spa-client",
		Scopes:     []string{"api://api-id/execute"},
		HTTPClient: idp.Client(),
	})
	resp := get(t, c, "/config.json")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"authRequired":      true,
		"authority":         idp.URL + "/contoso",
		"issuer":            idp.URL + "/contoso/v2.0",
		"clientId":          "spa-client",
		"scopes":            []any{"api://api-id/execute", "openid", "profile"},
		"authorizeEndpoint": idp.URL + "/contoso/oauth2/v2.0/authorize",
		"tokenEndpoint":     idp.URL + "/contoso/oauth2/v2.0/token",
		"mcpPath":           "/mcp",
		"restPath":          "/reverse",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("config.json (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"/contoso/v2.0/.well-known/openid-configuration"}, *paths); d != "" {
		t.Errorf("authority requests (-want +got):\n%s", d)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

func TestConfigJSONNoAuth(t *testing.T) {
	t.Parallel()
	c := newConsole(t, Config{NoAuth: true, MCPPath: "/api/mcp"})
	resp := get(t, c, "/config.json")
	defer resp.Body.Close()
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"authRequired": false, "mcpPath": "/api/mcp", "restPath": "/reverse"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("config.json (-want +got):\n%s", d)
	}
	if got, want := c.CSP(), "connect-src 'self'; "; !strings.Contains(got, want) {
		t.Errorf("CSP %q lacks %q", got, want)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	idp, _ := newFakeAuthority(t, entraLikeDoc)
	plain, _ := newFakeAuthority(t, func(base string) any {
		return map[string]string{"issuer": base + "/contoso/v2.0", "jwks_uri": base + "/keys", "authorization_endpoint": "http://idp.example.com/authorize", "token_endpoint": base + "/token"}
	})
	// A document that is enough for a token verifier (issuer, keys) but not for sign-in.
	empty, _ := newFakeAuthority(t, func(base string) any { return map[string]string{"issuer": "x", "jwks_uri": base + "/keys"} })
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error
	}{
		{"no client id", Config{Authority: idp.URL + "/contoso"}, "set --client-id"},
		{"no authority", Config{ClientID: "c"}, "not an absolute URL"},
		{"http authority", Config{ClientID: "c", Authority: "http://login.example.com/contoso"}, "must use https"},
		{"unknown tenant", Config{ClientID: "c", Authority: idp.URL + "/other", HTTPClient: idp.Client()}, "404 Not Found"},
		{"untrusted CA", Config{ClientID: "c", Authority: idp.URL + "/contoso"}, "could not reach " + idp.URL + "/contoso/v2.0/.well-known/openid-configuration"},
		{"plain http endpoint", Config{ClientID: "c", Authority: plain.URL + "/contoso", HTTPClient: plain.Client()}, "authorization endpoint \"http://idp.example.com/authorize\" must use https"},
		{"no endpoints", Config{ClientID: "c", Authority: empty.URL + "/contoso", HTTPClient: empty.Client()}, "lacks authorization_endpoint or token_endpoint"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	c := newConsole(t, Config{
		Authority: "https://login.microsoftonline.com/contoso",
		ClientID:  "spa",
		Endpoints: Endpoints{
			AuthorizeEndpoint: "https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize",
			TokenEndpoint:     "https://login.microsoftonline.com/contoso/oauth2/v2.0/token",
		},
	})
	wantCSP := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self' https://login.microsoftonline.com; base-uri 'none'; form-action 'none'; " +
		"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"
	for _, path := range []string{"/", "/config.json", "/assets/app.js", "/assets/style.css", "/assets/nope.js"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			resp := get(t, c, path)
			resp.Body.Close()
			got := map[string]string{}
			for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options", "Cross-Origin-Opener-Policy"} {
				got[h] = resp.Header.Get(h)
			}
			want := map[string]string{
				"Content-Security-Policy":    wantCSP,
				"X-Content-Type-Options":     "nosniff",
				"Referrer-Policy":            "no-referrer",
				"X-Frame-Options":            "DENY",
				"Cross-Origin-Opener-Policy": "same-origin",
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("headers (-want +got):\n%s", d)
			}
		})
	}
}

func TestCSPAddsTokenEndpointOrigin(t *testing.T) {
	t.Parallel()
	c := newConsole(t, Config{
		Authority: "https://login.example.com/t",
		ClientID:  "spa",
		Endpoints: Endpoints{AuthorizeEndpoint: "https://login.example.com/t/authorize", TokenEndpoint: "https://tokens.example.com:8443/t/token"},
	})
	if want := "connect-src 'self' https://login.example.com https://tokens.example.com:8443;"; !strings.Contains(c.CSP(), want) {
		t.Errorf("CSP %q lacks %q", c.CSP(), want)
	}
}

func TestAssetsServed(t *testing.T) {
	t.Parallel()
	c := newConsole(t, Config{NoAuth: true})
	tests := []struct {
		path       string
		status     int
		typePrefix string
		contains   string
	}{
		{"/", 200, "text/html", `<script src="assets/app.js" defer></script>`},
		{"/assets/app.js", 200, "text/javascript", "code_challenge_method"},
		{"/assets/style.css", 200, "text/css", "@media"},
		{"/assets/favicon.svg", 200, "image/svg+xml", "<svg"},
		{"/assets/", 404, "", ""},
		{"/assets/index.html", 404, "", ""},
		{"/assets/..%2fconsole.go", 404, "", ""},
		{"/index.html", 404, "", ""},
		{"/elsewhere", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			resp := get(t, c, tt.path)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 200 {
				return
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.typePrefix) {
				t.Errorf("Content-Type %q, want %s...", ct, tt.typePrefix)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
			// A second request with the ETag is answered 304 without a body.
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
			rec := httptest.NewRecorder()
			c.ServeHTTP(rec, req)
			if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
				t.Errorf("conditional GET: status %d, %d bytes; want 304, empty", rec.Code, rec.Body.Len())
			}
		})
	}
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("x")))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d, want 405", rec.Code)
	}
}

// TestAssetsSelfContained checks statically what the CSP also enforces at run time: no
// third-party URL, no inline script or style, no event-handler attribute, no HTML string
// sinks, and no persistent storage of tokens.
func TestAssetsSelfContained(t *testing.T) {
	t.Parallel()
	names := append(AssetNames(), "index.html")
	if len(names) < 4 {
		t.Fatalf("embedded assets %v: want at least index.html, app.js, style.css, favicon.svg", names)
	}
	urlRE := regexp.MustCompile(`(?i)\b(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	allowedURLs := map[string]bool{"http://www.w3.org": true} // the SVG namespace, never fetched
	forbidden := []struct {
		name string
		re   *regexp.Regexp
		only string // file extension the rule applies to, "" for all
	}{
		{"inline script", regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), ".html"},
		{"style element", regexp.MustCompile(`<style`), ".html"},
		{"style attribute", regexp.MustCompile(`\sstyle=`), ".html"},
		{"event handler attribute", regexp.MustCompile(`(?i)\son[a-z]+=`), ".html"},
		{"localStorage", regexp.MustCompile(`localStorage`), ""},
		{"cookies", regexp.MustCompile(`document\.cookie`), ""},
		{"innerHTML", regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write`), ""},
		{"eval", regexp.MustCompile(`\beval\(|new Function\(`), ""},
		{"@import", regexp.MustCompile(`@import`), ""},
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := assetFS.ReadFile("assets/" + name)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range urlRE.FindAllString(string(body), -1) {
				if !allowedURLs[u] {
					t.Errorf("third-party URL %q", u)
				}
			}
			if strings.HasSuffix(name, ".js") {
				// Comments may name what the code must not do.
				body = regexp.MustCompile(`(?m)^\s*//.*$`).ReplaceAll(body, nil)
			}
			for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(string(body), -1) {
				if !strings.Contains(tag, ` src="`) {
					t.Errorf("script element without src: %s", tag)
				}
			}
			for _, f := range forbidden {
				if f.only != "" && !strings.HasSuffix(name, f.only) {
					continue
				}
				if loc := f.re.FindIndex(body); loc != nil {
					t.Errorf("%s at byte %d: %q", f.name, loc[0], body[loc[0]:min(loc[1]+20, len(body))])
				}
			}
		})
	}
}

// TestSessionStorageHoldsOnlyPKCE guards the one use of sessionStorage: the PKCE verifier
// and state during the redirect, read once and removed.
func TestSessionStorageHoldsOnlyPKCE(t *testing.T) {
	t.Parallel()
	js, err := assetFS.ReadFile("assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(`sessionStorage\.[a-zA-Z]+\([^;]*\)`).FindAllString(string(js), -1)
	want := []string{
		"sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state: st, redirect }))",
		"sessionStorage.getItem(PKCE_KEY)",
		"sessionStorage.removeItem(PKCE_KEY)",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("sessionStorage uses (-want +got):\n%s", d)
	}
}
