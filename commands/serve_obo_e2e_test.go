package commands

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/httpx"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// tokenRecorder is a reverse proxy in front of the upstream serve that records the claims
// of every bearer token the upstream was sent.
type tokenRecorder struct {
	mu     sync.Mutex
	tokens []string
}

func (r *tokenRecorder) start(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		tok, _ := httpx.BearerToken(req)
		r.tokens = append(r.tokens, tok)
		r.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestServeOnBehalfOfEndToEnd: login (device code, auto-approved) → call through
// `serve --upstream … --obo-scope …` → an upstream serve that accepts only the downstream
// API's audience. The upstream sees the user (oid, tid) with the gateway as azp, and never
// a token whose audience is the gateway's. A scope needing consent reaches the client with
// what to do.
func TestServeOnBehalfOfEndToEnd(t *testing.T) { //nolint:paralleltest
	const apiSecret = "api-s3cret-e2e"
	da := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true, ClientSecret: apiSecret, DownstreamAPIs: []string{"downstream"},
		ExposedScopes: []string{"write"}, RequireConsent: []string{"api://downstream/write"}})
	authority := []string{"--authority", da.URL(), "--ca-file", da.CAFile()}
	upstream := startServe(t, append(authority, "--api-client-id", "downstream")...)
	rec := &tokenRecorder{}
	upURL := rec.start(t, upstream.base) + "/mcp"
	secretFile := testenv.WriteFile(t, t.TempDir(), "api-secret", apiSecret)
	gw := func(scope string) *runningServe {
		return startServe(t, append(authority, "--api-client-id", devauthority.DefaultAPIClientID, "--upstream", upURL,
			"--obo-scope", scope, "--api-client-secret-file", secretFile)...)
	}
	gateway := gw("api://downstream/execute")
	ctx := cliCtx(t)
	client, userTok, user := oboUser(t, ctx, authority)
	out, errOut, code := runCLI(ctx, "call", append([]string{"reverse_tool", "query=abc", "--server", gateway.base + "/mcp", "--progress", "none"}, client...)...)
	if code != 0 || !strings.Contains(out, "cba") {
		t.Fatalf("call through the gateway: exit %d, stdout %q, stderr %q\ngateway: %s", code, out, errOut, gateway.stderr.String())
	}
	rec.mu.Lock()
	seen := append([]string(nil), rec.tokens...)
	rec.mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the upstream saw no request")
	}
	for i, tok := range seen {
		if tok == userTok {
			t.Fatalf("request %d carried the user's own token upstream", i)
		}
		id, err := auth.UnverifiedIdentity(tok)
		if err != nil {
			t.Fatalf("request %d: no JWT upstream (%v)", i, err)
		}
		if len(id.Audience) != 1 || id.Audience[0] != "downstream" || id.ObjectID != user.ObjectID || id.TenantID != user.TenantID ||
			id.ClientID != devauthority.DefaultAPIClientID || id.Subject == user.Subject {
			t.Errorf("request %d: aud %v oid %s tid %s azp %s sub %s; want downstream, the user's oid/tid, the gateway as azp, its own sub",
				i, id.Audience, id.ObjectID, id.TenantID, id.ClientID, id.Subject)
		}
	}

	// Consent: the exchange for a scope nobody consented to fails with AADSTS65001 before
	// the upstream session opens (initialize), so the client gets the JSON-RPC error's text.
	// As on Entra it keeps failing (a retry, on a fresh gateway without the 5 s failure cache,
	// too) until the user signs in interactively to the gateway's API for that scope.
	consentGW := func() *runningServe {
		return startServe(t, append(authority, "--api-client-id", devauthority.DefaultAPIClientID, "--upstream", upURL,
			"--obo-scope", "api://downstream/write", "--obo-scope", "api://downstream/execute", "--api-client-secret-file", secretFile)...)
	}
	want := "consent to api://downstream/write api://downstream/execute is required: an administrator grants admin consent"
	for i := range 2 {
		consent := consentGW()
		out, errOut, code = runCLI(ctx, "call", append([]string{"reverse_tool", "query=abc", "--server", consent.base + "/mcp", "--progress", "none"}, client...)...)
		if code != ExitAuth || !strings.Contains(out+errOut, want) || strings.Contains(errOut, "check that --server") {
			t.Fatalf("call %d needing consent: exit %d, stdout %q, stderr %q; want exit 3 and the consent message alone", i+1, code, out, errOut)
		}
		if strings.Contains(out+errOut, userTok) || strings.Contains(out+errOut+consent.stderr.String(), apiSecret) {
			t.Error("a token or the API's secret was printed")
		}
	}
	// The user's interactive sign-in as the API, asking for the scope, is the consent. The
	// first such sign-in fails too (user consent disabled until an administrator allows it,
	// which that failure stands for) and gives no consent; the next one gives it.
	asAPI := append(append([]string(nil), authority...), "--client-id", devauthority.DefaultAPIClientID, "--api-client-id", devauthority.DefaultAPIClientID,
		"--scope", "api://downstream/write", "--cache-file", filepath.Join(t.TempDir(), "api", "token_cache.json"))
	if _, errOut, code := runCLI(ctx, "login", asAPI...); code != ExitAuth || !strings.Contains(errOut, "AADSTS65001") {
		t.Fatalf("first consenting sign-in: exit %d: %s; want 3 with AADSTS65001", code, errOut)
	}
	if _, errOut, code := runCLI(ctx, "login", asAPI...); code != 0 {
		t.Fatalf("consenting sign-in: exit %d: %s", code, errOut)
	}
	consent := consentGW()
	out, errOut, code = runCLI(ctx, "call", append([]string{"reverse_tool", "query=abc", "--server", consent.base + "/mcp", "--progress", "none"}, client...)...)
	if code != 0 || !strings.Contains(out, "cba") {
		t.Fatalf("call after consent: exit %d, stdout %q, stderr %q\ngateway: %s", code, out, errOut, consent.stderr.String())
	}
}

// oboUser signs a user in (device code, auto-approved) with `login` as the client
// "test-client" of the gateway's API, in a cache of its own, and returns the client's flags
// (authority ones included), the access token `token` prints and its identity.
func oboUser(t *testing.T, ctx context.Context, authority []string) (client []string, token string, user *auth.Identity) {
	t.Helper()
	client = append(append([]string(nil), authority...), "--client-id", "test-client", "--api-client-id", devauthority.DefaultAPIClientID,
		"--cache-file", filepath.Join(t.TempDir(), "c", "token_cache.json"))
	if _, errOut, code := runCLI(ctx, "login", client...); code != 0 {
		t.Fatalf("login: exit %d: %s", code, errOut)
	}
	out, errOut, code := runCLI(ctx, "token", client...)
	if code != 0 {
		t.Fatalf("token: exit %d: %s", code, errOut)
	}
	token = strings.TrimSpace(out)
	user, err := auth.UnverifiedIdentity(token)
	if err != nil {
		t.Fatal(err)
	}
	return client, token, user
}
