package devauthority_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/google/go-cmp/cmp"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

const (
	testClient = "test-cli"
	testScope  = "api://fastmcp-dev-api/execute"
)

// memCache is an in-memory MSAL cache (cache.ExportReplace).
type memCache struct{ data []byte }

func (m *memCache) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	return u.Unmarshal(m.data)
}

func (m *memCache) Export(_ context.Context, mm cache.Marshaler, _ cache.ExportHints) error {
	b, err := mm.Marshal()
	m.data = b
	return err
}

func newPublic(t *testing.T, a *devauthority.Authority, rec *recorder) public.Client {
	t.Helper()
	app, err := public.New(testClient, public.WithAuthority(a.URL()), public.WithInstanceDiscovery(false),
		public.WithHTTPClient(rec), public.WithCache(&memCache{}))
	if err != nil {
		t.Fatalf("public.New: %v", err)
	}
	return app
}

// deviceSignIn runs app's device code flow for testScope against an auto-approving authority
// and returns MSAL's result; an error at either step fails t.
func deviceSignIn(t *testing.T, app public.Client) public.AuthResult {
	t.Helper()
	dc, err := app.AcquireTokenByDeviceCode(context.Background(), []string{testScope})
	if err != nil {
		t.Fatalf("AcquireTokenByDeviceCode: %v", err)
	}
	res, err := dc.AuthenticationResult(context.Background())
	if err != nil {
		t.Fatalf("device flow: %v", err)
	}
	return res
}

// TestMSALDeviceFlow runs MSAL Go's device code flow against the authority, deciding on the
// /device page through its HTML form.
func TestMSALDeviceFlow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		decide     func(t *testing.T, b *browser, clk *fakeClock, userCode string)
		wantErr    string // substring of the MSAL error; "" for success
		wantResult string // substring of the final page
	}{
		{name: "approved after pending", decide: func(t *testing.T, b *browser, _ *fakeClock, code string) {
			_, page := b.decide(code, "approve")
			if !strings.Contains(page, `id="result"`) || !strings.Contains(page, "You have signed in") {
				t.Errorf("approval page:\n%s", page)
			}
		}},
		{name: "declined", wantErr: "access_denied", decide: func(t *testing.T, b *browser, _ *fakeClock, code string) {
			_, page := b.decide(code, "decline")
			if !strings.Contains(page, "You declined") {
				t.Errorf("decline page:\n%s", page)
			}
		}},
		{name: "expired", wantErr: "expired_token", decide: func(t *testing.T, b *browser, clk *fakeClock, code string) {
			clk.Advance(16 * time.Minute)
			_, _, tok := b.get("/device")
			resp, page := b.post("/device", url.Values{"csrf": {tok}, "user_code": {code}, "action": {"continue"}})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "That code has expired") {
				t.Errorf("expired code page: status %d\n%s", resp.StatusCode, page)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			p := startDevice(t, devauthority.Config{Now: clk.Now}, 30*time.Second)
			a, rec, dc, done := p.a, p.rec, p.dc, p.done
			code := dc.Result.UserCode
			if !strings.Contains(dc.Result.Message, code) || !strings.HasSuffix(dc.Result.VerificationURL, "/device") {
				t.Errorf("device code result: message %q, url %q", dc.Result.Message, dc.Result.VerificationURL)
			}
			// MSAL Go polls after 50 ms, then 150 ms, 450 ms, 1.35 s, 4.05 s later, then every
			// 5 s. The expired case waits for the fourth poll, so that the page is answered in
			// the 4 s gap before the next: a poll between the clock's jump and the page would
			// remove the expired code, and the page would say "not right" instead of "expired"
			// (seen as a flaky failure under load).
			polls := 1
			if tc.name == "expired" {
				polls = 4
			}
			waitFor(t, "a pending poll", func() bool { return rec.count("authorization_pending") >= polls })
			tc.decide(t, newBrowser(t, a), clk, code)
			got := <-done
			if tc.wantErr != "" {
				if got.err == nil || !strings.Contains(got.err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %s", got.err, tc.wantErr)
				}
				return
			}
			if got.err != nil {
				t.Fatalf("AuthenticationResult: %v", got.err)
			}
			tok := verify(t, a, got.res.AccessToken, clk)
			want := map[string]any{"scp": "execute", "azp": testClient, "name": "Dev User", "preferred_username": "dev@dev.localhost", "tid": a.TenantID(), "ver": "2.0"}
			gotClaims := map[string]any{}
			for k := range want {
				gotClaims[k] = claim(tok, k)
			}
			if diff := cmp.Diff(want, gotClaims); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			if got.res.Account.PreferredUsername != "dev@dev.localhost" || !strings.HasSuffix(got.res.Account.HomeAccountID, "."+a.TenantID()) {
				t.Errorf("account = %+v", got.res.Account)
			}
			// The device code is single use.
			if n := rec.count(""); n != 1 {
				t.Errorf("successful token answers = %d, want 1", n)
			}
		})
	}
}

// TestMSALRefreshRotation signs in (auto-approved), then lets MSAL refresh silently: each
// refresh returns a new refresh token, and presenting a rotated-out one is refused and
// revokes the family, so MSAL's own current token stops working too.
func TestMSALRefreshRotation(t *testing.T) {
	t.Parallel()
	// 300s: MSAL never caches such a token, so every silent call redeems the refresh token.
	a := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true, TokenLifetime: 300 * time.Second})
	rec := newRecorder(a)
	app := newPublic(t, a, rec)
	ctx := context.Background()
	first := deviceSignIn(t, app)
	for i := 0; i < 2; i++ {
		res, err := app.AcquireTokenSilent(ctx, []string{testScope}, public.WithSilentAccount(first.Account))
		if err != nil {
			t.Fatalf("silent refresh %d: %v", i, err)
		}
		if res.Metadata.TokenSource != 0 { // identity provider, not cache
			t.Errorf("silent %d served from the cache", i)
		}
	}
	rts := rec.refreshTokens()
	if len(rts) != 3 || rts[0] == rts[1] || rts[1] == rts[2] {
		t.Fatalf("refresh tokens not rotated: got %d tokens", len(rts))
	}
	// Replay the first (retired) token.
	status, body := postForm(t, a, "/oauth2/v2.0/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {testClient},
		"refresh_token": {rts[0]}, "scope": {testScope}})
	if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("reused refresh token: status %d, body %v", status, body)
	}
	// The family is revoked: MSAL's current refresh token fails too.
	_, err := app.AcquireTokenSilent(ctx, []string{testScope}, public.WithSilentAccount(first.Account))
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") || !strings.Contains(err.Error(), "AADSTS50173") {
		t.Fatalf("silent after replay: err = %v, want invalid_grant AADSTS50173", err)
	}
}

// TestMSALRevoked: RevokeRefreshTokens makes the next silent refresh fail with invalid_grant.
func TestMSALRevoked(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true, TokenLifetime: 300 * time.Second})
	app := newPublic(t, a, newRecorder(a))
	ctx := context.Background()
	res := deviceSignIn(t, app)
	a.RevokeRefreshTokens()
	_, err := app.AcquireTokenSilent(ctx, []string{testScope}, public.WithSilentAccount(res.Account))
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("silent after revoke: err = %v, want invalid_grant", err)
	}
}

// TestMSALClientCredentials gets an app-only token through MSAL's confidential client.
func TestMSALClientCredentials(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{ClientSecret: "s3cret-value"})
	tests := []struct {
		name    string
		secret  string
		scope   string
		wantErr string
	}{
		{name: "ok", secret: "s3cret-value", scope: "api://fastmcp-dev-api/.default"},
		{name: "wrong secret", secret: "nope", scope: "api://fastmcp-dev-api/.default", wantErr: "invalid_client"},
		{name: "not .default", secret: "s3cret-value", scope: testScope, wantErr: "invalid_scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cred, err := confidential.NewCredFromSecret(tc.secret)
			if err != nil {
				t.Fatal(err)
			}
			app, err := confidential.New(a.URL(), "daemon-app", cred, confidential.WithHTTPClient(a.HTTPClient()),
				confidential.WithInstanceDiscovery(false))
			if err != nil {
				t.Fatal(err)
			}
			res, err := app.AcquireTokenByCredential(context.Background(), []string{tc.scope})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %s", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), tc.secret) {
					t.Errorf("error echoes the secret")
				}
				return
			}
			if err != nil {
				t.Fatalf("AcquireTokenByCredential: %v", err)
			}
			tok := verify(t, a, res.AccessToken, nil)
			if diff := cmp.Diff([]any{"execute", "read"}, claim(tok, "roles")); diff != "" {
				t.Errorf("roles (-want +got):\n%s", diff)
			}
			if claim(tok, "scp") != nil || claim(tok, "idtyp") != nil || claim(tok, "azp") != "daemon-app" {
				t.Errorf("app-only claims: scp %v idtyp %v azp %v", claim(tok, "scp"), claim(tok, "idtyp"), claim(tok, "azp"))
			}
		})
	}
}

// TestRestartKeepsTokensValid: a second process on the same state directory serves the same
// key set and CA, so a token from the first still verifies, and the user keeps its oid.
func TestRestartKeepsTokensValid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first, err := devauthority.New(devauthority.Config{StateDir: dir, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	tok, err := first.IssueAccessToken("", []string{"execute"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	port := strings.Split(strings.TrimPrefix(first.URL(), "https://127.0.0.1:"), "/")[0]
	caBefore := first.CAPEM()
	oidBefore := claim(verify(t, first, tok, nil), "oid")
	if err := first.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Same port, as a user restarting dev-authority would have (the issuer includes it).
	second := testenv.DevAuthority(t, devauthority.Config{StateDir: dir, Addr: "127.0.0.1:" + port})
	if diff := cmp.Diff(string(caBefore), string(second.CAPEM())); diff != "" {
		t.Errorf("CA changed across restart (-want +got):\n%s", diff)
	}
	if second.TenantID() != first.TenantID() {
		t.Errorf("tenant ID changed across restart: %s, then %s", first.TenantID(), second.TenantID())
	}
	got := verify(t, second, tok, nil)
	if claim(got, "oid") != oidBefore {
		t.Errorf("oid changed")
	}
	fresh, err := second.IssueAccessToken("", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if claim(verify(t, second, fresh, nil), "oid") != oidBefore {
		t.Errorf("new token has another oid")
	}
}
