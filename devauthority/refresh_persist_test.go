package devauthority_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/google/go-cmp/cmp"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// refreshFileName is the refresh store's file in the state directory.
const refreshFileName = "refresh_tokens.json"

// msalSession is one MSAL public client signed in against an authority. Its cache outlives
// the authority, as the login command's cache file outlives a dev-authority process.
type msalSession struct {
	cache   *memCache
	rec     *recorder
	app     public.Client
	account public.Account
}

// signIn runs the (auto-approved) device flow with a fresh MSAL cache.
func signIn(t *testing.T, a *devauthority.Authority) *msalSession {
	t.Helper()
	s := &msalSession{cache: &memCache{}}
	s.connect(t, a)
	s.account = deviceSignIn(t, s.app).Account
	return s
}

// connect points a new MSAL client, with the same cache, at a (restarted) authority.
func (s *msalSession) connect(t *testing.T, a *devauthority.Authority) {
	t.Helper()
	s.rec = newRecorder(a)
	app, err := public.New(testClient, public.WithAuthority(a.URL()), public.WithInstanceDiscovery(false),
		public.WithHTTPClient(s.rec), public.WithCache(s.cache))
	if err != nil {
		t.Fatalf("public.New: %v", err)
	}
	s.app = app
}

// silent acquires a token silently. With a 300 s token lifetime MSAL never serves one from its
// cache, so each call redeems the refresh token.
func (s *msalSession) silent() (public.AuthResult, error) {
	return s.app.AcquireTokenSilent(context.Background(), []string{testScope}, public.WithSilentAccount(s.account))
}

// restart shuts a down and starts a new authority on the same state directory and port (the
// issuer, and MSAL's cache key, include the port).
func restart(t *testing.T, a *devauthority.Authority, cfg devauthority.Config) *devauthority.Authority {
	t.Helper()
	u, err := url.Parse(a.URL())
	if err != nil {
		t.Fatal(err)
	}
	if err := testenv.StopAuthority(a); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	cfg.Addr = u.Host
	return testenv.DevAuthority(t, cfg)
}

// readRefreshFile decodes the refresh store file and returns how many entries each list has.
func readRefreshFile(t *testing.T, dir string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, refreshFileName))
	if err != nil {
		t.Fatalf("read refresh file: %v", err)
	}
	var f map[string]json.RawMessage
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("refresh file is not JSON: %v\n%s", err, data)
	}
	counts := map[string]int{}
	for _, k := range []string{"live", "used", "revoked"} {
		var list []any
		if err := json.Unmarshal(f[k], &list); err != nil {
			t.Fatalf("refresh file %q: %v", k, err)
		}
		counts[k] = len(list)
	}
	return counts
}

// TestRefreshSurvivesRestart: a sign-in cached by MSAL keeps working after the authority
// restarts on the same state directory; the silent call goes through the refresh grant.
func TestRefreshSurvivesRestart(t *testing.T) {
	t.Parallel()
	cfg := devauthority.Config{StateDir: t.TempDir(), AutoApprove: true, TokenLifetime: 300 * time.Second}
	a := testenv.DevAuthority(t, cfg)
	s := signIn(t, a)

	b := restart(t, a, cfg)
	s.connect(t, b)
	res, err := s.silent()
	if err != nil {
		t.Fatalf("silent after restart: %v", err)
	}
	if res.Metadata.TokenSource != 0 { // identity provider, not cache
		t.Errorf("silent after restart served from the cache, want a refresh grant")
	}
	var grants []string
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	for _, e := range s.rec.ex {
		if strings.HasSuffix(e.path, "/oauth2/v2.0/token") {
			grants = append(grants, e.form.Get("grant_type")+" "+http.StatusText(e.status))
		}
	}
	if diff := cmp.Diff([]string{"refresh_token OK"}, grants); diff != "" {
		t.Errorf("token requests after restart (-want +got):\n%s", diff)
	}
	if claim(verify(t, b, res.AccessToken, nil), "scp") != "execute" {
		t.Errorf("refreshed token has scp %v", claim(verify(t, b, res.AccessToken, nil), "scp"))
	}
	// The rotation is saved too: a second restart still knows the new refresh token.
	c := restart(t, b, cfg)
	s.connect(t, c)
	if _, err := s.silent(); err != nil {
		t.Fatalf("silent after second restart: %v", err)
	}
}

// TestRefreshStateSurvivesRestart: what makes a refresh token unusable (rotation followed by
// reuse, RevokeRefreshTokens) is still known after a restart, with the same answers as
// before it. Without persistence the authority would answer "invalid or malformed"
// (AADSTS70000) rather than "already used" or "revoked" (AADSTS50173).
func TestRefreshStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// before runs before the restart; it returns a token to replay after it ("" for none).
		before   func(t *testing.T, a *devauthority.Authority, s *msalSession) string
		wantDesc string // substring of the replayed token's error_description
	}{
		{name: "retired token is reused", wantDesc: "already used", before: func(t *testing.T, _ *devauthority.Authority, s *msalSession) string {
			if _, err := s.silent(); err != nil {
				t.Fatalf("silent refresh: %v", err)
			}
			rts := s.rec.refreshTokens()
			if len(rts) != 2 || rts[0] == rts[1] {
				t.Fatalf("want 2 rotated refresh tokens, got %d", len(rts))
			}
			return rts[0]
		}},
		{name: "revoked", before: func(_ *testing.T, a *devauthority.Authority, _ *msalSession) string {
			a.RevokeRefreshTokens()
			return ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := devauthority.Config{StateDir: t.TempDir(), AutoApprove: true, TokenLifetime: 300 * time.Second}
			a := testenv.DevAuthority(t, cfg)
			s := signIn(t, a)
			replay := tc.before(t, a, s)

			b := restart(t, a, cfg)
			if replay != "" {
				status, body := postForm(t, b, "/oauth2/v2.0/token", url.Values{"grant_type": {"refresh_token"},
					"client_id": {testClient}, "refresh_token": {replay}, "scope": {testScope}})
				desc, _ := body["error_description"].(string)
				if status != http.StatusBadRequest || body["error"] != "invalid_grant" || !strings.Contains(desc, tc.wantDesc) {
					t.Fatalf("replayed refresh token after restart: status %d, body %v; want invalid_grant %q", status, body, tc.wantDesc)
				}
			}
			// MSAL's current refresh token is revoked: its family after the reuse, or all.
			s.connect(t, b)
			_, err := s.silent()
			if err == nil || !strings.Contains(err.Error(), "invalid_grant") || !strings.Contains(err.Error(), "AADSTS50173") {
				t.Fatalf("silent after restart: err = %v, want invalid_grant AADSTS50173", err)
			}
		})
	}
}

// TestRefreshFileContents: the file is 0600, holds hashes but no refresh token, and drops
// entries once they expire (on load and on save).
func TestRefreshFileContents(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	cfg := devauthority.Config{StateDir: t.TempDir(), AutoApprove: true, TokenLifetime: 300 * time.Second, Now: clk.Now}
	a := testenv.DevAuthority(t, cfg)
	s := signIn(t, a)
	if _, err := s.silent(); err != nil {
		t.Fatalf("silent refresh: %v", err)
	}
	path := filepath.Join(cfg.StateDir, refreshFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("refresh file mode = %v, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rts := s.rec.refreshTokens()
	if len(rts) != 2 {
		t.Fatalf("want 2 refresh tokens, got %d", len(rts))
	}
	for i, rt := range rts {
		// Also without the "dev." prefix: the random part alone must not be there either.
		if strings.Contains(string(data), rt) || strings.Contains(string(data), strings.TrimPrefix(rt, "dev.")) {
			t.Errorf("refresh file holds refresh token %d", i)
		}
	}
	if diff := cmp.Diff(map[string]int{"live": 1, "used": 1, "revoked": 0}, readRefreshFile(t, cfg.StateDir)); diff != "" {
		t.Errorf("entries after sign-in and one refresh (-want +got):\n%s", diff)
	}

	// 91 days later every entry has expired (90 days of inactivity): the restarted authority
	// no longer knows them, and its next save leaves them out.
	clk.Advance(91 * 24 * time.Hour)
	b := restart(t, a, cfg)
	s.connect(t, b)
	if _, err := s.silent(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("silent with an expired refresh token: err = %v, want invalid_grant", err)
	}
	signIn(t, b)
	if diff := cmp.Diff(map[string]int{"live": 1, "used": 0, "revoked": 0}, readRefreshFile(t, cfg.StateDir)); diff != "" {
		t.Errorf("entries after expiry and a new sign-in (-want +got):\n%s", diff)
	}
}

// TestRefreshFileDamaged: a damaged file never stops the authority. It is moved aside with a
// warning, and the authority starts with no refresh tokens and saves new ones.
func TestRefreshFileDamaged(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
	}{
		{name: "not JSON", data: "{\"version\": 1, \"live\": ["},
		{name: "other version", data: `{"version": 99, "live": [], "used": [], "revoked": []}`},
		{name: "live grant without hash", data: `{"version": 1, "live": [{"client_id": "x", "scope": "offline_access", "family": "f", "expires": "2999-01-01T00:00:00Z"}]}`},
		{name: "revoked without expiry", data: `{"version": 1, "revoked": [{"hash": "abc"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := testenv.WriteFile(t, dir, refreshFileName, tc.data)
			clk := newFakeClock()
			logs := &testenv.SyncBuffer{}
			a := testenv.DevAuthority(t, devauthority.Config{StateDir: dir, AutoApprove: true, Now: clk.Now,
				Logger: slog.New(slog.NewTextHandler(logs, nil))})

			aside := path + ".corrupt-" + strconv.FormatInt(clk.Now().Unix(), 10)
			got, err := os.ReadFile(aside)
			if err != nil {
				t.Fatalf("damaged file not moved aside to %s: %v", filepath.Base(aside), err)
			}
			if diff := cmp.Diff(tc.data, string(got)); diff != "" {
				t.Errorf("moved-aside content (-want +got):\n%s", diff)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("damaged file still at %s (err %v)", refreshFileName, err)
			}
			if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "damaged") {
				t.Errorf("no warning about the damaged file in the log:\n%s", l)
			}
			// The authority works and writes a good file again.
			signIn(t, a)
			if diff := cmp.Diff(map[string]int{"live": 1, "used": 0, "revoked": 0}, readRefreshFile(t, dir)); diff != "" {
				t.Errorf("entries after a new sign-in (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRefreshSaveFails: when the file cannot be written the grant is still answered from
// memory, with a warning in the log, and the refresh token works until a restart.
func TestRefreshSaveFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A non-empty directory where the file should be: renaming over it fails, even as root.
	if err := os.MkdirAll(filepath.Join(dir, refreshFileName, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	a := testenv.DevAuthority(t, devauthority.Config{StateDir: dir, AutoApprove: true, TokenLifetime: 300 * time.Second,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	s := signIn(t, a)
	if _, err := s.silent(); err != nil {
		t.Fatalf("silent refresh with an unwritable file: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "could not save refresh tokens") {
		t.Errorf("no warning about the failed save in the log:\n%s", l)
	}
	for _, rt := range s.rec.refreshTokens() {
		if strings.Contains(logs.String(), strings.TrimPrefix(rt, "dev.")) {
			t.Errorf("log holds a refresh token")
		}
	}
}
