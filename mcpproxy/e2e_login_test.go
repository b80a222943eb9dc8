package mcpproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/httpx"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
	"github.com/fastmcp-auth/fastmcp-auth/mcpserver"
)

// These tests run the whole chain with the real login cache: the development authority in
// process, `fastmcp-auth login` (the built binary) filling a token cache file, the server that
// `serve` runs (mcpserver.Handler with the real token verifier, clock skew 0 so that an expired
// token is refused at once), and a real `fastmcp-auth proxy` process reading that cache,
// driven by a go-sdk client over CommandTransport. The authority and the server share one
// testenv.Clock, so a test makes the tokens issued so far expire without waiting: the proxy,
// a child process on the real clock, holds tokens by their expires_in (relative), and the
// server judges them by the shared clock.

// loginEnv is one authority, one server and one token cache.
type loginEnv struct {
	t         *testing.T
	authority *devauthority.Authority
	clock     *testenv.Clock // the authority's and the server's
	grants    *grantCounter
	cacheFile string
	server    string // MCP endpoint
	seen      *bearerLog

	// reject, when set, makes the server answer 401 invalid_token to requests carrying
	// this bearer token, as a server does for a token revoked before its expiry.
	reject   atomic.Pointer[string]
	rejected atomic.Int64
}

// grantCounter counts the authority's token answers through its logs ("tokens issued", one
// per successful grant), so tests know how many refresh grants it served.
type grantCounter struct {
	issued  atomic.Int64
	refused atomic.Int64
}

func (g *grantCounter) Enabled(context.Context, slog.Level) bool { return true }
func (g *grantCounter) WithAttrs([]slog.Attr) slog.Handler       { return g }
func (g *grantCounter) WithGroup(string) slog.Handler            { return g }
func (g *grantCounter) Handle(_ context.Context, r slog.Record) error {
	switch r.Message {
	case "tokens issued":
		g.issued.Add(1)
	case "token request refused":
		g.refused.Add(1)
	}
	return nil
}

// bearerLog records the bearer token of every MCP POST, with its JSON-RPC method.
type bearerLog struct {
	mu    sync.Mutex
	posts []seenPost
}

type seenPost struct {
	method, token string
}

func (b *bearerLog) add(p seenPost) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.posts = append(b.posts, p)
}

// count returns the number of POSTs so far.
func (b *bearerLog) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.posts)
}

// since returns the POSTs after the first n.
func (b *bearerLog) since(n int) []seenPost {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]seenPost(nil), b.posts[n:]...)
}

// last returns the token of the last POST of method.
func (b *bearerLog) last(method string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.posts) - 1; i >= 0; i-- {
		if b.posts[i].method == method {
			return b.posts[i].token
		}
	}
	return ""
}

func (b *bearerLog) tokens() map[string]bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := map[string]bool{}
	for _, p := range b.posts {
		m[p.token] = true
	}
	return m
}

// newLoginEnv starts an authority issuing access tokens of the given lifetime and the server
// trusting it.
func newLoginEnv(t *testing.T, lifetime time.Duration) *loginEnv {
	t.Helper()
	e := &loginEnv{t: t, clock: testenv.NewClock(time.Now()), grants: &grantCounter{}, seen: &bearerLog{}, cacheFile: filepath.Join(t.TempDir(), "cache", "token_cache.json")}
	a := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true, TokenLifetime: lifetime, Logger: slog.New(e.grants), Now: e.clock.Now})
	e.authority = a

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc, err := auth.NewHTTPClient(a.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	d, err := auth.Discover(ctx, hc, a.URL())
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(ctx, auth.VerifierConfig{
		JWKSURI: d.JWKSURI, Issuers: auth.DefaultIssuers(a.URL(), d), Audiences: auth.DefaultAudiences(devauthority.DefaultAPIClientID, ""),
		HTTPClient: hc, // ClockSkew 0: a token is refused from its exp second on
		Now:        e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)

	srv := testenv.ServeSelf(t, func(base string) (http.Handler, error) {
		h, err := mcpserver.Handler(mcpserver.Config{
			Verifier: v.Verify, RequiredScopes: []string{"execute"}, PublicURL: base + "/mcp",
			AuthorizationServers: []string{d.Issuer}, ProgressInterval: 5 * time.Millisecond,
		})
		return e.front(h), err
	})
	e.server = srv.URL + "/mcp"
	return e
}

// front records the bearer token of each MCP POST and refuses the token in e.reject, before
// the server's own checks.
func (e *loginEnv) front(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := httpx.BearerToken(r)
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var msg struct {
				Method string `json:"method"`
			}
			_ = json.Unmarshal(body, &msg)
			e.seen.add(seenPost{method: msg.Method, token: tok})
		}
		if rej := e.reject.Load(); rej != nil && tok == *rej {
			e.rejected.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the token was revoked"`)
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// environ is what the host configuration of docs/proxy.md passes, for the dev authority: no
// other FASTMCP_AUTH_* setting of the machine leaks in.
func (e *loginEnv) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FASTMCP_AUTH_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"FASTMCP_AUTH_ENV_FILE=/dev/null",
		"FASTMCP_AUTH_AUTHORITY="+e.authority.URL(),
		"FASTMCP_AUTH_CA_FILE="+e.authority.CAFile(),
		"FASTMCP_AUTH_API_CLIENT_ID="+devauthority.DefaultAPIClientID,
		"FASTMCP_AUTH_CLIENT_ID=any",
		"FASTMCP_AUTH_CACHE_FILE="+e.cacheFile,
	)
}

// login runs `fastmcp-auth login --force` (the device flow, approved at once by the authority).
func (e *loginEnv) login() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, testenv.Binary(e.t), "login", "--force")
	cmd.Env = e.environ()
	cmd.Dir = e.t.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("fastmcp-auth login: %v\n%s", err, stderr.String())
	}
}

// cached returns the access and refresh token secrets of the cache file.
func (e *loginEnv) cached() (ats, rts []string) {
	e.t.Helper()
	b, err := os.ReadFile(e.cacheFile)
	if err != nil {
		e.t.Fatal(err)
	}
	var c struct {
		AccessToken  map[string]struct{ Secret string } `json:"AccessToken"`
		RefreshToken map[string]struct{ Secret string } `json:"RefreshToken"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		e.t.Fatalf("the cache file does not parse: %v", err)
	}
	for _, v := range c.AccessToken {
		ats = append(ats, v.Secret)
	}
	for _, v := range c.RefreshToken {
		rts = append(rts, v.Secret)
	}
	return ats, rts
}

// refreshToken returns the one cached refresh token.
func (e *loginEnv) refreshToken() string {
	e.t.Helper()
	_, rts := e.cached()
	if len(rts) != 1 {
		e.t.Fatalf("%d refresh tokens cached, want 1", len(rts))
	}
	return rts[0]
}

// connectProxy starts `fastmcp-auth proxy --server ...` on the login cache and connects a
// go-sdk client to it. The returned buffer holds the proxy's stderr.
func (e *loginEnv) connectProxy(ctx context.Context) (*mcp.ClientSession, *testenv.SyncBuffer) {
	e.t.Helper()
	cmd := exec.Command(testenv.Binary(e.t), "proxy", "--server", e.server, "--debug")
	cmd.Env = e.environ()
	cmd.Dir = e.t.TempDir()
	stderr := &testenv.SyncBuffer{}
	cmd.Stderr = stderr
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e-login", Version: "1"}, nil).Connect(ctx,
		&mcp.CommandTransport{Command: cmd}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		e.t.Fatalf("connect through the proxy: %v\nstderr:\n%s", err, stderr)
	}
	e.t.Cleanup(func() { cs.Close() })
	return cs, stderr
}

// noSecrets fails when a token of the cache or one the server saw appears in the logs.
func (e *loginEnv) noSecrets(logs string) {
	e.t.Helper()
	ats, rts := e.cached()
	for tok := range e.seen.tokens() {
		ats = append(ats, tok)
	}
	for _, s := range append(ats, rts...) {
		if s != "" && strings.Contains(logs, s) {
			e.t.Errorf("a token appears in the proxy's logs")
			return
		}
	}
}

func reverse(ctx context.Context, cs *mcp.ClientSession, q string) (string, error) {
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "reverse_tool", Arguments: map[string]any{"query": q}})
	if err != nil {
		return "", err
	}
	b, _ := json.Marshal(res.StructuredContent)
	return string(b), nil
}

// TestProxyLoginCacheExpiredThenRevoked: (a) once the access tokens issued so far have
// expired, a call succeeds with a token from a refresh grant (the refresh token in the cache
// rotated), sent at once: no request carries an expired token; (b) after the authority revoked the refresh tokens, a call gets the JSON-RPC error
// -32030 saying to run `fastmcp-auth login`, promptly, and after that login the same proxy
// process serves the next call.
func TestProxyLoginCacheExpiredThenRevoked(t *testing.T) {
	t.Parallel()
	// 1 min tokens: MSAL caches no access token of 300 s or less, and the proxy replaces a
	// token within RefreshLeeway (2 min) of its expiry, so every token fetch is a refresh grant.
	const lifetime = time.Minute
	e := newLoginEnv(t, lifetime)
	e.login()
	loginRT := e.refreshToken()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, stderr := e.connectProxy(ctx)
	if got, err := reverse(ctx, cs, "abc"); err != nil || got != `{"reversed_query":"cba"}` {
		t.Fatalf("first call: %s, %v\nstderr:\n%s", got, err, stderr)
	}
	before := e.seen.tokens()

	t.Run("expired", func(t *testing.T) {
		// Every token issued so far expires within lifetime (whole seconds, rounded down).
		e.clock.Advance(lifetime + time.Second)
		for tok := range before {
			if id, err := auth.UnverifiedIdentity(tok); err != nil || e.clock.Now().Before(id.Expiry) {
				t.Fatalf("a token seen before the clock moved has not expired: %v %v", id, err)
			}
		}
		issued, posts := e.grants.issued.Load(), e.seen.count()
		got, err := reverse(ctx, cs, "expired")
		if err != nil {
			t.Fatalf("call after expiry: %v\nstderr:\n%s", err, stderr)
		}
		if got != `{"reversed_query":"deripxe"}` {
			t.Errorf("result %s", got)
		}
		// Not even a first attempt that the server refused: the proxy refreshed silently.
		for _, p := range e.seen.since(posts) {
			if before[p.token] {
				t.Errorf("a %s after expiry carried a token sent before the clock moved", p.method)
			}
		}
		if e.grants.issued.Load() <= issued {
			t.Errorf("the authority issued no token for the call after expiry")
		}
		if e.refreshToken() == loginRT {
			t.Errorf("the cached refresh token did not rotate: no refresh grant was redeemed")
		}
	})

	t.Run("revoked", func(t *testing.T) {
		e.authority.RevokeRefreshTokens()
		start := time.Now()
		_, err := reverse(ctx, cs, "revoked")
		elapsed := time.Since(start)
		if code := rpcCode(err); code != CodeUnauthorized || !strings.Contains(err.Error(), "run `fastmcp-auth login`") {
			t.Fatalf("call after revocation: %v (code %d); want %d saying to run `fastmcp-auth login`", err, code, CodeUnauthorized)
		}
		if elapsed > 5*time.Second {
			t.Errorf("the login error took %v", elapsed)
		}
		if e.grants.refused.Load() == 0 {
			t.Errorf("the authority refused no grant: the proxy did not try the revoked refresh token")
		}

		// The proxy is still alive: after signing in again, the next call works.
		e.login()
		got, err := reverse(ctx, cs, "again")
		if err != nil || got != `{"reversed_query":"niaga"}` {
			t.Errorf("call after a new login: %s, %v\nstderr:\n%s", got, err, stderr)
		}
	})
	e.noSecrets(stderr.String())
}

// TestProxyLoginCacheForcedRefresh: the server refuses the cached access token although it is
// valid for an hour (revoked, or signed with a key the server no longer trusts). The proxy
// redeems the refresh token once, retries, and the session works; the new token is in the
// cache for every other command.
func TestProxyLoginCacheForcedRefresh(t *testing.T) {
	t.Parallel()
	e := newLoginEnv(t, time.Hour)
	e.login()
	ats, _ := e.cached()
	if len(ats) != 1 {
		t.Fatalf("%d access tokens cached after login, want 1", len(ats))
	}
	loginAT, loginRT := ats[0], e.refreshToken()
	e.reject.Store(&loginAT)
	issuedAtLogin := e.grants.issued.Load()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, stderr := e.connectProxy(ctx) // initialize: 401, refresh, retry
	for i, q := range []string{"one", "two"} {
		if _, err := reverse(ctx, cs, q); err != nil {
			t.Fatalf("call %d: %v\nstderr:\n%s", i, err, stderr)
		}
	}

	type facts struct {
		Rejected, RefreshGrants int64
		CallToken, CachedAT     string
		RTRotated               bool
	}
	newATs, _ := e.cached()
	got := facts{
		Rejected:      e.rejected.Load(),
		RefreshGrants: e.grants.issued.Load() - issuedAtLogin,
		RTRotated:     e.refreshToken() != loginRT,
	}
	want := facts{Rejected: 1, RefreshGrants: 1, RTRotated: true}
	// The calls carried the new token, which the cache now holds instead of the login's.
	if tok := e.seen.last("tools/call"); tok != loginAT && len(newATs) == 1 && newATs[0] == tok {
		got.CallToken, got.CachedAT = "refreshed", "refreshed"
	}
	want.CallToken, want.CachedAT = "refreshed", "refreshed"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s\nstderr:\n%s", diff, stderr)
	}
	if !strings.Contains(stderr.String(), "retrying with a refreshed one") {
		t.Errorf("the proxy did not log the refresh after the 401:\n%s", stderr)
	}
	e.noSecrets(stderr.String())
}
