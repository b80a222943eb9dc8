package auth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAuthority is a minimal Entra-compatible authority on httptest TLS: discovery, device
// code and token endpoints, as ../shared/notes/msal-go.md section 2 describes. It records the
// grants it received so that tests assert protocol facts (a refresh used the refresh grant).
type fakeAuthority struct {
	srv    *httptest.Server
	tenant string

	mu        sync.Mutex
	outcome   string        // device poll answer: "approve", "authorization_declined", "expired_token", "pending"
	lifetime  time.Duration // access token lifetime
	grants    []string      // grant_type of every token request, in order
	rts       map[string]bool
	revoked   bool
	users     []string // preferred_username per successive device login
	logins    int
	rtCounter int
}

func newFakeAuthority(t *testing.T) *fakeAuthority {
	t.Helper()
	f := &fakeAuthority{tenant: "dev", outcome: "approve", lifetime: time.Hour, rts: map[string]bool{}, users: []string{"alice@example.test"}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", f.discovery)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/devicecode", f.deviceCode)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", f.token)
	f.srv = httptest.NewTLSServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the authority URL (httptest's certificate covers 127.0.0.1).
func (f *fakeAuthority) URL() string { return f.srv.URL + "/" + f.tenant }

func (f *fakeAuthority) set(fn func(f *fakeAuthority)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeAuthority) grantLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.grants...)
}

func (f *fakeAuthority) discovery(w http.ResponseWriter, r *http.Request) {
	base := f.srv.URL + "/" + r.PathValue("tenant")
	faWriteJSON(w, 200, map[string]any{
		"issuer":                 base + "/v2.0",
		"authorization_endpoint": base + "/oauth2/v2.0/authorize",
		"token_endpoint":         base + "/oauth2/v2.0/token",
		"jwks_uri":               base + "/discovery/v2.0/keys",
	})
}

func (f *fakeAuthority) deviceCode(w http.ResponseWriter, _ *http.Request) {
	faWriteJSON(w, 200, map[string]any{
		"device_code":      "dc-secret",
		"user_code":        "BCDF-GHJK",
		"verification_uri": f.srv.URL + "/device",
		"expires_in":       900,
		"interval":         5,
		"message":          "To sign in, open " + f.srv.URL + "/device and enter the code BCDF-GHJK",
	})
}

func faOAuthFail(w http.ResponseWriter, code, desc string) {
	faWriteJSON(w, 400, map[string]any{"error": code, "error_description": desc + " Trace ID: x Correlation ID: y"})
}

func (f *fakeAuthority) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		faOAuthFail(w, "invalid_request", "bad form")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	grant := r.PostForm.Get("grant_type")
	f.grants = append(f.grants, grant)
	var user string
	switch grant {
	case "device_code", "urn:ietf:params:oauth:grant-type:device_code":
		if f.outcome != "approve" {
			if f.outcome == "pending" {
				faOAuthFail(w, "authorization_pending", "AADSTS70016: pending.")
			} else {
				faOAuthFail(w, f.outcome, "AADSTS70020: no.")
			}
			return
		}
		user = f.users[min(f.logins, len(f.users)-1)]
		f.logins++
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		u, ok := f.rtUser(rt)
		if !ok || f.revoked {
			faOAuthFail(w, "invalid_grant", "AADSTS700082: The refresh token has expired or was revoked.")
			return
		}
		// Single use, as rotation in Entra and the dev authority: a second redemption of
		// the same refresh token fails, which is what concurrent refreshes would hit.
		delete(f.rts, rt)
		user = u
	default:
		faOAuthFail(w, "unsupported_grant_type", "nope")
		return
	}
	f.rtCounter++
	rt := fmt.Sprintf("rt-%d|%s", f.rtCounter, user)
	f.rts[rt] = true
	oid := "oid-" + strings.Split(user, "@")[0]
	now := time.Now()
	at := faJWT(map[string]any{"iss": f.srv.URL + "/" + f.tenant + "/v2.0", "aud": "api://test-api", "scp": "execute", "tid": "tid-1",
		"oid": oid, "sub": oid, "preferred_username": user, "exp": now.Add(f.lifetime).Unix(), "iat": now.Unix(), "n": f.rtCounter})
	idt := faJWT(map[string]any{"iss": f.srv.URL + "/" + f.tenant + "/v2.0", "aud": r.PostForm.Get("client_id"), "tid": "tid-1",
		"oid": oid, "sub": oid, "preferred_username": user, "name": "Test User"})
	ci, _ := json.Marshal(map[string]string{"uid": oid, "utid": "tid-1"})
	faWriteJSON(w, 200, map[string]any{
		"token_type":    "Bearer",
		"access_token":  at,
		"expires_in":    int(f.lifetime.Seconds()),
		"refresh_token": rt,
		"id_token":      idt,
		"client_info":   base64.RawURLEncoding.EncodeToString(ci),
		"scope":         r.PostForm.Get("scope"),
	})
}

func (f *fakeAuthority) rtUser(rt string) (string, bool) {
	if !f.rts[rt] {
		return "", false
	}
	_, u, _ := strings.Cut(rt, "|")
	return u, true
}

func faJWT(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + ".sig"
}

func faWriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
