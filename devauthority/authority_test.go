package devauthority_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

func TestNewRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr   string
		tenant string
		ok     bool
	}{
		{addr: "127.0.0.1:0", ok: true},
		{addr: "[::1]:0", ok: true},
		{addr: "localhost:0", ok: true},
		{addr: "0.0.0.0:8443"},
		{addr: ":8443"},
		{addr: "192.168.1.10:8443"},
		{addr: "example.com:8443"},
		{addr: "127.0.0.1"},
		{addr: "127.0.0.1:0", tenant: "adfs"},
		{addr: "127.0.0.1:0", tenant: "mytokens"},
		{addr: "127.0.0.1:0", tenant: "a/b"},
		{addr: "127.0.0.1:0", tenant: "Contoso-Dev", ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.addr+"/"+tc.tenant, func(t *testing.T) {
			t.Parallel()
			_, err := devauthority.New(devauthority.Config{Addr: tc.addr, Tenant: tc.tenant, StateDir: t.TempDir()})
			if (err == nil) != tc.ok {
				t.Fatalf("New(%q, %q) err = %v, want ok=%v", tc.addr, tc.tenant, err, tc.ok)
			}
		})
	}
}

func TestStateDirPermissions(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	a := testenv.DevAuthority(t, devauthority.Config{StateDir: dir})
	got := map[string]fs.FileMode{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, _ := e.Info()
		got[e.Name()] = fi.Mode().Perm()
	}
	fi, _ := os.Stat(dir)
	got["."] = fi.Mode().Perm()
	want := map[string]fs.FileMode{".": 0o700, "ca.pem": 0o644, "ca-key.pem": 0o600, "tls-cert.pem": 0o644, "tls-key.pem": 0o600, "signing-key.pem": 0o600}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("state dir modes (-want +got):\n%s", diff)
	}
	if a.CAFile() != filepath.Join(dir, "ca.pem") {
		t.Errorf("CAFile = %s", a.CAFile())
	}
	wantEnv := []string{
		"FASTMCP_AUTH_AUTHORITY=" + a.URL(),
		"FASTMCP_AUTH_CA_FILE=" + a.CAFile(),
		"FASTMCP_AUTH_API_CLIENT_ID=fastmcp-dev-api",
		"FASTMCP_AUTH_CLIENT_ID=fastmcp-dev-cli",
	}
	if diff := cmp.Diff(wantEnv, a.EnvLines()); diff != "" {
		t.Errorf("EnvLines (-want +got):\n%s", diff)
	}
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{Tenant: "Contoso-Dev"})
	// MSAL requests the tenant in the case the user typed it.
	doc := getJSON(t, a, strings.Replace(a.URL(), "contoso-dev", "Contoso-DEV", 1)+"/v2.0/.well-known/openid-configuration")
	got := map[string]any{}
	for _, k := range []string{"issuer", "token_endpoint", "device_authorization_endpoint", "jwks_uri", "scopes_supported", "token_endpoint_auth_methods_supported"} {
		got[k] = doc[k]
	}
	// Entra's v2 document (panva/wellknown issuers/entra-common/entra-common.mjs): OpenID scopes
	// only, no "none" auth method; private_key_jwt is absent because client assertions are refused.
	want := map[string]any{
		"issuer":                                a.Issuer(),
		"token_endpoint":                        a.URL() + "/oauth2/v2.0/token",
		"device_authorization_endpoint":         a.URL() + "/oauth2/v2.0/devicecode",
		"jwks_uri":                              a.URL() + "/discovery/v2.0/keys",
		"scopes_supported":                      []any{"openid", "profile", "offline_access"},
		"token_endpoint_auth_methods_supported": []any{"client_secret_post", "client_secret_basic"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("discovery (-want +got):\n%s", diff)
	}
	// Entra's document has neither member, so neither may a client rely on them here.
	for _, k := range []string{"code_challenge_methods_supported", "grant_types_supported"} {
		if v, ok := doc[k]; ok {
			t.Errorf("discovery has %s = %v; Entra's has no such member", k, v)
		}
	}
	// MSAL's device code URL is the token endpoint with every "token" replaced.
	if d := strings.ReplaceAll(doc["token_endpoint"].(string), "token", "devicecode"); d != doc["device_authorization_endpoint"] {
		t.Errorf("derived device code URL %s != %s", d, doc["device_authorization_endpoint"])
	}
}

// TestTokenEndpointErrors: bad input gets Entra-shaped errors, never a crash.
func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{})
	big := strings.Repeat("a", 70<<10)
	tests := []struct {
		name        string
		path        string
		body        string
		contentType string
		status      int
		wantErr     string
		wantCode    float64
	}{
		{name: "no grant type", path: "/oauth2/v2.0/token", body: "client_id=x", status: 400, wantErr: "invalid_request", wantCode: 900144},
		{name: "unknown grant", path: "/oauth2/v2.0/token", body: "grant_type=password&client_id=x", status: 400, wantErr: "unsupported_grant_type", wantCode: 70003},
		{name: "json body", path: "/oauth2/v2.0/token", body: `{"grant_type":"device_code"}`, contentType: "application/json", status: 400, wantErr: "invalid_request"},
		{name: "oversized", path: "/oauth2/v2.0/token", body: "grant_type=device_code&client_id=x&pad=" + big, status: 400, wantErr: "invalid_request"},
		{name: "repeated parameter", path: "/oauth2/v2.0/token", body: "grant_type=device_code&grant_type=device_code&client_id=x", status: 400, wantErr: "invalid_request"},
		{name: "malformed form", path: "/oauth2/v2.0/token", body: "grant_type=%zz", status: 400, wantErr: "invalid_request"},
		{name: "unknown device code", path: "/oauth2/v2.0/token", body: "grant_type=urn:ietf:params:oauth:grant-type:device_code&client_id=x&device_code=nope", status: 400, wantErr: "bad_verification_code", wantCode: 70018},
		{name: "unknown refresh token", path: "/oauth2/v2.0/token", body: "grant_type=refresh_token&client_id=x&refresh_token=nope", status: 400, wantErr: "invalid_grant", wantCode: 70000},
		{name: "client credentials disabled", path: "/oauth2/v2.0/token", body: "grant_type=client_credentials&client_id=x&client_secret=y&scope=api://fastmcp-dev-api/.default", status: 401, wantErr: "invalid_client"},
		// CLI.md: any scope not granted is invalid_scope (Entra's number, 650053).
		{name: "bare scope", path: "/oauth2/v2.0/devicecode", body: "client_id=x&scope=execute", status: 400, wantErr: "invalid_scope", wantCode: 650053},
		{name: "foreign scope", path: "/oauth2/v2.0/devicecode", body: "client_id=x&scope=https://graph.microsoft.com/User.Read", status: 400, wantErr: "invalid_resource", wantCode: 500011},
		{name: "no client id", path: "/oauth2/v2.0/devicecode", body: "scope=openid", status: 400, wantErr: "invalid_request"},
		{name: "bad client id", path: "/oauth2/v2.0/devicecode", body: "client_id=%3Cscript%3E&scope=openid", status: 400, wantErr: "invalid_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(http.MethodPost, a.URL()+tc.path, strings.NewReader(tc.body))
			ct := tc.contentType
			if ct == "" {
				ct = "application/x-www-form-urlencoded"
			}
			req.Header.Set("Content-Type", ct)
			req.Header.Set("client-request-id", "11111111-2222-3333-4444-555555555555")
			resp, body := doJSON(t, a, req)
			if resp.StatusCode != tc.status || body["error"] != tc.wantErr {
				t.Fatalf("got %d %v, want %d %s", resp.StatusCode, body["error"], tc.status, tc.wantErr)
			}
			if body["correlation_id"] != "11111111-2222-3333-4444-555555555555" {
				t.Errorf("correlation_id = %v", body["correlation_id"])
			}
			desc, _ := body["error_description"].(string)
			if !strings.HasPrefix(desc, "AADSTS") || !strings.Contains(desc, "Trace ID:") {
				t.Errorf("error_description = %q", desc)
			}
			if tc.wantCode != 0 {
				if diff := cmp.Diff([]any{tc.wantCode}, body["error_codes"]); diff != "" {
					t.Errorf("error_codes (-want +got):\n%s", diff)
				}
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
			}
		})
	}
}

func TestWrongTenantAndHost(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{})
	u, _ := url.Parse(a.URL())
	resp, err := a.HTTPClient().Get("https://" + u.Host + "/other/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("other tenant: status %d, want 400", resp.StatusCode)
	}
	// A foreign Host header (DNS rebinding) is refused.
	req, _ := http.NewRequest(http.MethodGet, a.URL()+"/v2.0/.well-known/openid-configuration", nil)
	req.Host = "evil.example:" + u.Port()
	resp, err = a.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: status %d, want 421", resp.StatusCode)
	}
}

// TestDevicePage covers the page's refusals: wrong code, cross-site post, missing CSRF token,
// and its security headers.
func TestDevicePage(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{})
	status, body := postForm(t, a, "/oauth2/v2.0/devicecode", url.Values{"client_id": {"c"}, "scope": {testScope}})
	if status != 200 {
		t.Fatalf("devicecode: %d %v", status, body)
	}
	code := body["user_code"].(string)
	if diff := cmp.Diff(float64(900), body["expires_in"]); diff != "" {
		t.Errorf("expires_in (-want +got):\n%s", diff)
	}
	// Entra: "The verification_uri_complete response field is not included or supported".
	if v, ok := body["verification_uri_complete"]; ok {
		t.Errorf("verification_uri_complete = %v; Entra sends none", v)
	}
	b := newBrowser(t, a)
	_, page, tok := b.get("/device")
	if tok == "" || !strings.Contains(page, `id="user_code"`) {
		t.Fatalf("device page has no form:\n%s", page)
	}
	tests := []struct {
		name     string
		origin   string
		form     url.Values
		status   int
		wantText string
	}{
		{name: "wrong code", form: url.Values{"csrf": {tok}, "user_code": {"BBBB-BBBB"}, "action": {"continue"}}, status: 400, wantText: "That code is not right"},
		{name: "lower case without dash", form: url.Values{"csrf": {tok}, "user_code": {strings.ToLower(strings.ReplaceAll(code, "-", ""))}, "action": {"continue"}}, status: 200, wantText: `id="approve"`},
		{name: "no csrf token", form: url.Values{"user_code": {code}, "action": {"approve"}}, status: 403, wantText: "another site"},
		{name: "cross-site origin", origin: "https://evil.example", form: url.Values{"csrf": {tok}, "user_code": {code}, "action": {"approve"}}, status: 403, wantText: "another site"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, b.origin+"/device", strings.NewReader(tc.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			o := b.origin
			if tc.origin != "" {
				o = tc.origin
			}
			req.Header.Set("Origin", o)
			resp, err := b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			p := readAll(resp)
			if resp.StatusCode != tc.status || !strings.Contains(p, tc.wantText) {
				t.Errorf("status %d, want %d with %q:\n%s", resp.StatusCode, tc.status, tc.wantText, p)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "style-src 'sha256-"} {
				if !strings.Contains(csp, want) {
					t.Errorf("CSP %q lacks %q", csp, want)
				}
			}
		})
	}
	// The code is still pending after all this: the refused posts changed nothing.
	status, body = postForm(t, a, "/oauth2/v2.0/token", url.Values{"grant_type": {"device_code"}, "client_id": {"c"}, "device_code": {body["device_code"].(string)}})
	if status != 400 || body["error"] != "authorization_pending" {
		t.Errorf("poll: %d %v, want authorization_pending", status, body["error"])
	}
}

// TestConcurrentDeviceCodes starts many device codes at once: distinct codes, no race.
func TestConcurrentDeviceCodes(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true})
	const n = 30
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body := postForm(t, a, "/oauth2/v2.0/devicecode", url.Values{"client_id": {"c"}, "scope": {testScope + " offline_access"}})
			if status != 200 {
				t.Errorf("devicecode: %d", status)
				return
			}
			status, tok := postForm(t, a, "/oauth2/v2.0/token", url.Values{"grant_type": {"device_code"}, "client_id": {"c"}, "device_code": {body["device_code"].(string)}})
			if status != 200 || tok["refresh_token"] == nil {
				t.Errorf("token: %d %v", status, tok["error"])
			}
			mu.Lock()
			seen[body["user_code"].(string)] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("%d distinct user codes, want %d", len(seen), n)
	}
}

func pkcePair(seed string) (verifier, challenge string) {
	verifier = strings.Repeat(seed, 43/len(seed)+1)[:43]
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorize runs /authorize (auto-approved) for the client "spa" and returns the code from
// the redirect.
func authorize(t *testing.T, a *devauthority.Authority, redirect, challenge string) string {
	t.Helper()
	return authorizeAs(t, a, "spa", redirect, challenge)
}

// authorizeAs is authorize for the client clientID.
func authorizeAs(t *testing.T, a *devauthority.Authority, clientID, redirect, challenge string) string {
	t.Helper()
	b := newBrowser(t, a)
	q := url.Values{"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {testScope + " openid offline_access"},
		"state": {"st"}, "nonce": {"n1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	resp, err := b.c.Get(a.URL() + "/oauth2/v2.0/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Query().Get("state") != "st" || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: status %d, location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

func TestAuthorizationCodePKCE(t *testing.T) {
	t.Parallel()
	const redirect = "http://localhost:8000/callback"
	verifier, challenge := pkcePair("v3rifier")
	tests := []struct {
		name     string
		mutate   func(f url.Values, clk *fakeClock, a *devauthority.Authority)
		wantErr  string
		wantCode float64
	}{
		{name: "ok"},
		{name: "wrong verifier", mutate: func(f url.Values, _ *fakeClock, _ *devauthority.Authority) {
			v, _ := pkcePair("other")
			f.Set("code_verifier", v)
		}, wantErr: "invalid_grant", wantCode: 501481},
		{name: "wrong redirect uri", mutate: func(f url.Values, _ *fakeClock, _ *devauthority.Authority) {
			f.Set("redirect_uri", "http://localhost:8000/other")
		}, wantErr: "invalid_grant", wantCode: 500112},
		{name: "other client", mutate: func(f url.Values, _ *fakeClock, _ *devauthority.Authority) { f.Set("client_id", "intruder") }, wantErr: "invalid_grant"},
		{name: "expired", mutate: func(_ url.Values, clk *fakeClock, _ *devauthority.Authority) { clk.Advance(11 * time.Minute) }, wantErr: "invalid_grant", wantCode: 70008},
		{name: "reused", mutate: func(f url.Values, _ *fakeClock, a *devauthority.Authority) {
			if status, body := postForm(t, a, "/oauth2/v2.0/token", f); status != 200 {
				t.Fatalf("first redemption: %v", body)
			}
		}, wantErr: "invalid_grant", wantCode: 54005},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			a := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true, Now: clk.Now})
			code := authorize(t, a, redirect, challenge)
			f := url.Values{"grant_type": {"authorization_code"}, "client_id": {"spa"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
			if tc.mutate != nil {
				tc.mutate(f, clk, a)
			}
			status, body := postForm(t, a, "/oauth2/v2.0/token", f)
			if tc.wantErr == "" {
				if status != 200 {
					t.Fatalf("token: %d %v", status, body)
				}
				tok := verify(t, a, body["access_token"].(string), clk)
				if claim(tok, "scp") != "execute" || body["id_token"] == nil || body["refresh_token"] == nil {
					t.Errorf("tokens: scp %v, id_token %v", claim(tok, "scp"), body["id_token"] != nil)
				}
				return
			}
			if status != 400 || body["error"] != tc.wantErr {
				t.Fatalf("got %d %v, want 400 %s", status, body["error"], tc.wantErr)
			}
			if tc.wantCode != 0 {
				if diff := cmp.Diff([]any{tc.wantCode}, body["error_codes"]); diff != "" {
					t.Errorf("error_codes (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestAuthorizeConsentPage goes through the approval page of /authorize: decline redirects
// with access_denied, a bad redirect URI is never redirected to, PKCE is required.
func TestAuthorizeConsentPage(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{})
	_, challenge := pkcePair("abc")
	base := url.Values{"client_id": {"spa"}, "response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:9000/cb"}, "scope": {testScope},
		"state": {"s1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	with := func(k, v string) url.Values {
		q := url.Values{}
		for kk, vv := range base {
			q[kk] = vv
		}
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	tests := []struct {
		name       string
		query      url.Values
		action     string // approve/decline on the page
		status     int
		wantLocErr string // error in the redirect; "" means a code
	}{
		{name: "approve", query: base, action: "approve", status: 303},
		{name: "decline", query: base, action: "decline", status: 303, wantLocErr: "access_denied"},
		{name: "no pkce", query: with("code_challenge", ""), status: 303, wantLocErr: "invalid_request"},
		{name: "plain pkce", query: with("code_challenge_method", "plain"), status: 303, wantLocErr: "invalid_request"},
		{name: "bad scope (AADSTS650053)", query: with("scope", "User.Read"), status: 303, wantLocErr: "invalid_scope"},
		{name: "http non-loopback redirect", query: with("redirect_uri", "http://evil.example/cb"), status: 400},
		{name: "javascript redirect", query: with("redirect_uri", "javascript:alert(1)"), status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBrowser(t, a)
			path := "/" + "dev/oauth2/v2.0/authorize?" + tc.query.Encode()
			status, page, tok := b.get(path)
			var resp *http.Response
			if tc.action != "" {
				if status != 200 || !strings.Contains(page, "http://127.0.0.1:9000/cb") {
					t.Fatalf("consent page: %d\n%s", status, page)
				}
				txn := between(page, `name="txn" value="`, `"`)
				resp, _ = b.post("/dev/oauth2/v2.0/authorize", url.Values{"csrf": {tok}, "txn": {txn}, "action": {tc.action}})
				if csp := resp.Header.Get("Content-Security-Policy"); csp != "" {
					t.Errorf("redirect carries a CSP: %s", csp)
				}
			} else {
				r, err := b.c.Get(b.origin + path)
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				resp = r
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != 303 {
				if resp.Header.Get("Location") != "" {
					t.Errorf("redirected to an invalid redirect URI: %s", resp.Header.Get("Location"))
				}
				return
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			q := loc.Query()
			if q.Get("state") != "s1" || q.Get("error") != tc.wantLocErr || (tc.wantLocErr == "") != (q.Get("code") != "") {
				t.Errorf("redirect %s: state %q error %q", loc.Redacted(), q.Get("state"), q.Get("error"))
			}
		})
	}
}

// tokenCORS sends a cross-origin request (method OPTIONS for a preflight, or POST) from
// origin to the token endpoint, announcing a POST of a form, and returns the answer with its
// body closed.
func tokenCORS(t *testing.T, a *devauthority.Authority, method, origin string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, a.URL()+"/oauth2/v2.0/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{})
	resp := tokenCORS(t, a, http.MethodOptions, "http://localhost:8000")
	got := []string{fmt.Sprint(resp.StatusCode), resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Allow-Methods")}
	if diff := cmp.Diff([]string{"204", "http://localhost:8000", "POST, OPTIONS"}, got); diff != "" {
		t.Errorf("preflight (-want +got):\n%s", diff)
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if resp, err := a.HTTPClient().Get(a.URL() + "/discovery/v2.0/keys"); err == nil {
		_ = resp.Body.Close()
		t.Error("still serving after Shutdown")
	}
}

// TestIssuerFollowsHost: MSAL requires the discovery issuer's host:port to equal the
// authority's, so a client addressing localhost gets localhost URLs.
func TestIssuerFollowsHost(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{})
	u, _ := url.Parse(a.URL())
	req, _ := http.NewRequest(http.MethodGet, a.URL()+"/v2.0/.well-known/openid-configuration", nil)
	req.Host = "localhost:" + u.Port()
	_, doc := doJSON(t, a, req)
	if want := "https://localhost:" + u.Port() + "/" + a.TenantID() + "/v2.0"; doc["issuer"] != want {
		t.Errorf("issuer = %v, want %s", doc["issuer"], want)
	}
}

// TestUserCodeRateLimit: after 20 wrong codes in a minute the page refuses even a right one
// until the minute has passed (RFC 8628 section 5.1).
func TestUserCodeRateLimit(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	a := testenv.DevAuthority(t, devauthority.Config{Now: clk.Now})
	_, body := postForm(t, a, "/oauth2/v2.0/devicecode", url.Values{"client_id": {"c"}, "scope": {testScope}})
	code := body["user_code"].(string)
	b := newBrowser(t, a)
	_, _, tok := b.get("/device")
	try := func(c string) int {
		resp, _ := b.post("/device", url.Values{"csrf": {tok}, "user_code": {c}, "action": {"continue"}})
		return resp.StatusCode
	}
	for i := 0; i < 20; i++ {
		if s := try("BBBB-BBBB"); s != http.StatusBadRequest {
			t.Fatalf("wrong code %d: status %d", i, s)
		}
	}
	if s := try(code); s != http.StatusTooManyRequests {
		t.Fatalf("right code after 20 wrong ones: status %d, want 429", s)
	}
	clk.Advance(61 * time.Second)
	if s := try(code); s != http.StatusOK {
		t.Fatalf("right code a minute later: status %d, want 200", s)
	}
}
