package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// newTestLogin returns a Login against f with its cache in dir.
func newTestLogin(t *testing.T, f *fakeAuthority, cacheFile string, mod ...func(*LoginConfig)) (*Login, *bytes.Buffer) {
	t.Helper()
	var prompt bytes.Buffer
	cfg := LoginConfig{
		Authority:  f.URL(),
		ClientID:   "test-client",
		Scopes:     []string{"api://test-api/execute"},
		CacheFile:  cacheFile,
		HTTPClient: f.srv.Client(),
		Prompt:     &prompt,
	}
	for _, m := range mod {
		m(&cfg)
	}
	l, err := NewLogin(cfg)
	if err != nil {
		t.Fatalf("NewLogin: %v", err)
	}
	return l, &prompt
}

// deviceSignIn signs in through l's device code flow (the fake authority approves it) and
// returns the token; a failure ends the test.
func deviceSignIn(t *testing.T, ctx context.Context, l *Login) *Token {
	t.Helper()
	tok, err := l.DeviceCode(ctx)
	if err != nil {
		t.Fatalf("device code sign-in: %v", err)
	}
	return tok
}

// testCtx bounds a sign-in test (testenv.Context).
func testCtx(t *testing.T) context.Context { return testenv.Context(t, 30*time.Second) }

func TestDeviceCodeThenSilentFromCache(t *testing.T) {
	t.Parallel()
	f := newFakeAuthority(t)
	cacheFile := filepath.Join(t.TempDir(), "sub", "token_cache.json")
	l, prompt := newTestLogin(t, f, cacheFile)
	ctx := testCtx(t)

	if _, err := l.Silent(ctx); !errors.Is(err, ErrNotSignedIn) {
		t.Fatalf("Silent before login: err = %v, want ErrNotSignedIn", err)
	}
	tok := deviceSignIn(t, ctx, l)
	if !strings.Contains(prompt.String(), "BCDF-GHJK") || strings.Contains(prompt.String(), "dc-secret") {
		t.Errorf("prompt %q: want the user code and never the device code", prompt.String())
	}
	got := struct{ User, Home, Tenant string }{tok.Username, tok.HomeAccountID, tok.TenantID}
	want := struct{ User, Home, Tenant string }{"alice@example.test", "oid-alice.tid-1", "tid-1"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("token identity (-want +got):\n%s", d)
	}
	if tok.FromCache || tok.AccessToken == "" || time.Until(tok.ExpiresOn) < 50*time.Minute {
		t.Errorf("device token: FromCache=%v expires %v", tok.FromCache, tok.ExpiresOn)
	}

	// A second Login (a new process) reads the file and serves the cached token.
	l2, _ := newTestLogin(t, f, cacheFile)
	tok2, err := l2.Silent(ctx)
	if err != nil {
		t.Fatalf("Silent: %v", err)
	}
	if !tok2.FromCache || tok2.AccessToken != tok.AccessToken {
		t.Errorf("Silent: FromCache=%v, same token=%v; want the cached token", tok2.FromCache, tok2.AccessToken == tok.AccessToken)
	}
	if d := cmp.Diff([]string{"device_code"}, f.grantLog()); d != "" {
		t.Errorf("grants (-want +got):\n%s", d)
	}
	assertModes(t, cacheFile)
}

func assertModes(t *testing.T, cacheFile string) {
	t.Helper()
	for _, c := range []struct {
		path string
		want os.FileMode
	}{{cacheFile, 0o600}, {filepath.Dir(cacheFile), 0o700 | os.ModeDir}, {cacheFile + ".lock", 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.want {
			t.Errorf("%s: mode %v, want %v", c.path, fi.Mode(), c.want)
		}
	}
}

func TestSilentRefreshUsesRefreshGrant(t *testing.T) {
	t.Parallel()
	f := newFakeAuthority(t)
	// MSAL treats a token within 5 minutes of expiry as expired and does not even cache a
	// token of 300 s or less: every Silent call must redeem the refresh token.
	f.set(func(f *fakeAuthority) { f.lifetime = 200 * time.Second })
	cacheFile := filepath.Join(t.TempDir(), "token_cache.json")
	l, _ := newTestLogin(t, f, cacheFile)
	ctx := testCtx(t)
	first := deviceSignIn(t, ctx, l)
	for i := range 2 {
		tok, err := l.Silent(ctx)
		if err != nil {
			t.Fatalf("Silent #%d: %v", i, err)
		}
		if tok.FromCache || tok.AccessToken == first.AccessToken {
			t.Errorf("Silent #%d: FromCache=%v; want a refreshed token", i, tok.FromCache)
		}
	}
	if d := cmp.Diff([]string{"device_code", "refresh_token", "refresh_token"}, f.grantLog()); d != "" {
		t.Errorf("grants (-want +got):\n%s", d)
	}
}

func TestRevokedRefreshTokenIsNotSignedIn(t *testing.T) {
	t.Parallel()
	f := newFakeAuthority(t)
	f.set(func(f *fakeAuthority) { f.lifetime = 200 * time.Second })
	l, _ := newTestLogin(t, f, filepath.Join(t.TempDir(), "token_cache.json"))
	ctx := testCtx(t)
	deviceSignIn(t, ctx, l)
	f.set(func(f *fakeAuthority) { f.revoked = true })
	_, err := l.Silent(ctx)
	if !errors.Is(err, ErrNotSignedIn) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("Silent after revocation: %v; want ErrNotSignedIn saying revoked", err)
	}
	if strings.Contains(err.Error(), "rt-") {
		t.Errorf("error leaks the refresh token: %v", err)
	}
}

func TestDeviceCodeOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		outcome string
		cancel  bool
		want    []error
	}{
		{"declined", "authorization_declined", false, []error{ErrLoginDeclined}},
		{"access denied", "access_denied", false, []error{ErrLoginDeclined}},
		{"expired", "expired_token", false, []error{ErrLoginExpired}},
		{"other error", "bad_verification_code", false, []error{ErrLoginFailed}},
		{"ctrl-c while pending", "pending", true, []error{ErrLoginCancelled, context.Canceled}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAuthority(t)
			f.set(func(f *fakeAuthority) { f.outcome = tt.outcome })
			l, _ := newTestLogin(t, f, filepath.Join(t.TempDir(), "token_cache.json"))
			ctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			if tt.cancel {
				time.AfterFunc(300*time.Millisecond, cancel)
			}
			start := time.Now()
			_, err := l.DeviceCode(ctx)
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("err = %v, want %v", err, w)
				}
			}
			if tt.cancel && time.Since(start) > 3*time.Second {
				t.Errorf("cancel took %v to stop polling", time.Since(start))
			}
			if err != nil && strings.Contains(err.Error(), "dc-secret") {
				t.Errorf("error leaks the device code: %v", err)
			}
		})
	}
}

func TestUnreachableAuthority(t *testing.T) {
	t.Parallel()
	authority := "https://" + testenv.FreeAddr(t) + "/dev" // nothing listens there
	l, err := NewLogin(LoginConfig{Authority: authority, ClientID: "c", Scopes: []string{"api://x/execute"},
		CacheFile: filepath.Join(t.TempDir(), "c.json")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.DeviceCode(testCtx(t))
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), authority) ||
		!strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %q; want one line, ErrUnreachable naming %s and the cause", err, authority)
	}
}

func TestAccountSelection(t *testing.T) {
	t.Parallel()
	f := newFakeAuthority(t)
	f.set(func(f *fakeAuthority) { f.users = []string{"alice@example.test", "bob@example.test"} })
	other := newFakeAuthority(t) // another host:port: its account must never be picked
	other.set(func(f *fakeAuthority) { f.users = []string{"carol@example.test"} })
	cacheFile := filepath.Join(t.TempDir(), "token_cache.json")
	ctx := testCtx(t)
	l, _ := newTestLogin(t, f, cacheFile)
	for range 2 {
		deviceSignIn(t, ctx, l)
	}
	lo, _ := newTestLogin(t, other, cacheFile)
	deviceSignIn(t, ctx, lo)

	_, err := l.Silent(ctx)
	if !errors.Is(err, ErrAccountAmbiguous) || !strings.Contains(err.Error(), "alice@example.test") ||
		!strings.Contains(err.Error(), "bob@example.test") || strings.Contains(err.Error(), "carol") {
		t.Fatalf("Silent with two accounts: %v; want ErrAccountAmbiguous listing alice and bob only", err)
	}
	tests := []struct {
		account string
		want    string
		wantErr error
	}{
		{"BOB@example.test", "bob@example.test", nil},
		{"oid-alice.tid-1", "alice@example.test", nil},
		{"carol@example.test", "", ErrNotSignedIn},
	}
	for _, tt := range tests {
		t.Run(tt.account, func(t *testing.T) {
			la, _ := newTestLogin(t, f, cacheFile, func(c *LoginConfig) { c.Account = tt.account })
			tok, err := la.Silent(ctx)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && tok.Username != tt.want {
				t.Errorf("picked %s, want %s", tok.Username, tt.want)
			}
		})
	}
	if tok, err := lo.Silent(ctx); err != nil || tok.Username != "carol@example.test" {
		t.Fatalf("other authority: %v %v", tok, err)
	}

	lb, _ := newTestLogin(t, f, cacheFile, func(c *LoginConfig) { c.Account = "bob@example.test" })
	removed, err := lb.Logout(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"bob@example.test"}, removed); d != "" {
		t.Errorf("logout --account bob (-want +got):\n%s", d)
	}
	if tok, err := l.Silent(ctx); err != nil || tok.Username != "alice@example.test" {
		t.Fatalf("after removing bob, Silent = %v, %v; want alice", tok, err)
	}
	removed, err = l.Logout(ctx)
	if err != nil || !cmp.Equal([]string{"alice@example.test"}, removed) {
		t.Fatalf("logout: %v %v", removed, err)
	}
	removed, err = l.Logout(ctx)
	if err != nil || len(removed) != 0 {
		t.Fatalf("logout with nothing cached: %v %v", removed, err)
	}
	if _, err := lo.Silent(ctx); err != nil {
		t.Fatalf("logout of one authority removed another's account: %v", err)
	}
}

// TestConcurrentRefresh runs refreshes from several Login instances (as separate processes
// would, each with its own lock descriptor) against single-use refresh tokens: without the
// cross-process lock two of them redeem the same refresh token and one fails, or a write
// loses the rotated token.
func TestConcurrentRefresh(t *testing.T) {
	t.Parallel()
	f := newFakeAuthority(t)
	f.set(func(f *fakeAuthority) { f.lifetime = 200 * time.Second })
	cacheFile := filepath.Join(t.TempDir(), "token_cache.json")
	ctx := testCtx(t)
	l, _ := newTestLogin(t, f, cacheFile)
	deviceSignIn(t, ctx, l)
	const workers, rounds = 6, 4
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lw, _ := newTestLogin(t, f, cacheFile)
			for range rounds {
				if _, err := lw.Silent(ctx); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Silent: %v", err)
	}
	data, err := os.ReadFile(cacheFile)
	if err != nil || !json.Valid(data) {
		t.Fatalf("cache after concurrent refreshes is not valid JSON: %v", err)
	}
	if _, err := l.Silent(ctx); err != nil {
		t.Fatalf("Silent after concurrent refreshes: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(cacheFile), ".*tmp-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestUnverifiedIdentity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		token   string
		want    *Identity
		wantErr error
	}{
		{
			name: "v2 delegated",
			token: faJWT(map[string]any{"iss": "https://h/t/v2.0", "aud": "api://x", "scp": "execute read", "tid": "t1",
				"oid": "o1", "sub": "s1", "azp": "c1", "preferred_username": "a@b", "exp": 1700000000, "ver": "2.0"}),
			want: &Identity{Issuer: "https://h/t/v2.0", Audience: []string{"api://x"}, Scopes: []string{"execute", "read"},
				TenantID: "t1", ObjectID: "o1", Subject: "s1", ClientID: "c1", Username: "a@b",
				Expiry: time.Unix(1700000000, 0).UTC(), Version: "2.0"},
		},
		{
			name:  "v1 app-only with audience list",
			token: faJWT(map[string]any{"aud": []string{"a1", "a2"}, "roles": []string{"execute"}, "appid": "c2", "upn": "u@v"}),
			want:  &Identity{Audience: []string{"a1", "a2"}, Roles: []string{"execute"}, ClientID: "c2", Username: "u@v"},
		},
		{name: "opaque", token: "opaque-token", wantErr: ErrNotJWT},
		{name: "bad payload", token: "a.!!!.c", wantErr: ErrNotJWT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := UnverifiedIdentity(tt.token)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("identity (-want +got):\n%s", d)
			}
		})
	}
}

// TestConcurrentRefreshProcesses is TestConcurrentRefresh with real processes: the test
// binary runs itself as children that refresh through the same cache file at once.
func TestConcurrentRefreshProcesses(t *testing.T) {
	if os.Getenv("FASTMCP_AUTH_TEST_REFRESH_CHILD") == "1" {
		refreshChild(t)
		return
	}
	t.Parallel()
	f := newFakeAuthority(t)
	f.set(func(f *fakeAuthority) { f.lifetime = 200 * time.Second })
	dir := t.TempDir()
	cacheFile := filepath.Join(dir, "token_cache.json")
	caFile := testenv.WriteFile(t, dir, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw})))
	ctx := testCtx(t)
	l, _ := newTestLogin(t, f, cacheFile)
	deviceSignIn(t, ctx, l)
	const children = 3
	cmds := make([]*exec.Cmd, children)
	outs := make([]*bytes.Buffer, children)
	for i := range cmds {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestConcurrentRefreshProcesses$", "-test.count=1")
		outs[i] = &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		cmd.Env = append(os.Environ(), "FASTMCP_AUTH_TEST_REFRESH_CHILD=1",
			"FASTMCP_AUTH_TEST_AUTHORITY="+f.URL(), "FASTMCP_AUTH_TEST_CA="+caFile, "FASTMCP_AUTH_TEST_CACHE="+cacheFile)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("child %d: %v\n%s", i, err, outs[i])
		}
	}
	refreshes := 0
	for _, g := range f.grantLog() {
		if g == "refresh_token" {
			refreshes++
		}
	}
	if refreshes != children*3 {
		t.Errorf("%d refresh grants, want %d", refreshes, children*3)
	}
	if _, err := l.Silent(ctx); err != nil {
		t.Fatalf("Silent after the children: %v", err)
	}
}

// refreshChild is the child side of TestConcurrentRefreshProcesses.
func refreshChild(t *testing.T) {
	client, err := NewHTTPClient(os.Getenv("FASTMCP_AUTH_TEST_CA"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLogin(LoginConfig{Authority: os.Getenv("FASTMCP_AUTH_TEST_AUTHORITY"), ClientID: "test-client",
		Scopes: []string{"api://test-api/execute"}, CacheFile: os.Getenv("FASTMCP_AUTH_TEST_CACHE"), HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := l.Silent(context.Background()); err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
	}
}
