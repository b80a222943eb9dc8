package devauthority_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestMSALOnBehalfOf runs MSAL Go's confidential client (AcquireTokenOnBehalfOf) against the
// authority's jwt-bearer grant, with Entra's failures: the assertion's audience, app-only
// assertions, forged or expired ones, unknown scopes, missing consent.
func TestMSALOnBehalfOf(t *testing.T) {
	t.Parallel()
	const secret = "obo-s3cret"
	a := testenv.DevAuthority(t, devauthority.Config{ClientSecret: secret, DownstreamAPIs: []string{"downstream"},
		ExposedScopes: []string{"write"}, RequireConsent: []string{"api://downstream/write"}})
	user := func(extra map[string]any) string {
		tok, err := a.IssueAccessTokenAs("alice", []string{"execute"}, nil, extra, 0)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	appOnly, err := a.IssueAccessTokenAs("daemon", nil, []string{"execute"}, map[string]any{"idtyp": "app"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	good := user(nil)
	forged := good[:len(good)-4] + "AAAA"
	tests := []struct {
		name      string
		client    string
		secret    string
		assertion string
		scopes    []string
		wantErr   []string // substrings of the error, in order of appearance not required
	}{
		{name: "ok", client: "fastmcp-dev-api", secret: secret, assertion: good, scopes: []string{"api://downstream/read"}},
		{name: "audience is another API", client: "downstream", secret: secret, assertion: good, scopes: []string{"api://downstream/read"},
			wantErr: []string{"invalid_grant", "AADSTS50013", "Assertion audience does not match"}},
		{name: "app-only assertion", client: "fastmcp-dev-api", secret: secret, assertion: appOnly, scopes: []string{"api://downstream/read"},
			wantErr: []string{"invalid_grant", "AADSTS50013", "app-only"}},
		{name: "forged signature", client: "fastmcp-dev-api", secret: secret, assertion: forged, scopes: []string{"api://downstream/read"},
			wantErr: []string{"invalid_grant", "AADSTS50013", "signature"}},
		{name: "expired", client: "fastmcp-dev-api", secret: secret, assertion: user(map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}),
			scopes: []string{"api://downstream/read"}, wantErr: []string{"AADSTS500133", "valid time range"}},
		{name: "unregistered API", client: "fastmcp-dev-api", secret: secret, assertion: good, scopes: []string{"api://nowhere/read"},
			wantErr: []string{"invalid_resource", "AADSTS500011"}},
		{name: "two resources", client: "fastmcp-dev-api", secret: secret, assertion: good, scopes: []string{"api://downstream/read", "api://fastmcp-dev-api/read"},
			wantErr: []string{"AADSTS28000"}},
		{name: "wrong secret", client: "fastmcp-dev-api", secret: "nope", assertion: good, scopes: []string{"api://downstream/read"},
			wantErr: []string{"invalid_client"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := oboExchange(t, a, tc.client, tc.secret, tc.assertion, tc.scopes)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("exchange succeeded, want %v", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err = %v, want %q in it", err, w)
					}
				}
				if strings.Contains(err.Error(), tc.secret) {
					t.Errorf("error echoes the secret")
				}
				return
			}
			if err != nil {
				t.Fatalf("AcquireTokenOnBehalfOf: %v", err)
			}
			got := verifyFor(t, a, res.AccessToken, nil, "downstream")
			in := verify(t, a, tc.assertion, nil)
			for _, c := range []string{"oid", "tid", "preferred_username"} {
				if claim(got, c) != claim(in, c) {
					t.Errorf("%s = %v, want the user's %v", c, claim(got, c), claim(in, c))
				}
			}
			// IssueAccessTokenAs's tid is the tenant's GUID, as in its iss.
			if claim(in, "tid") != a.TenantID() {
				t.Errorf("assertion tid = %v, want the tenant GUID %s", claim(in, "tid"), a.TenantID())
			}
			if claim(got, "azp") != "fastmcp-dev-api" || claim(got, "scp") != "read" {
				t.Errorf("azp %v scp %v, want the middle tier and read", claim(got, "azp"), claim(got, "scp"))
			}
			if claim(got, "sub") == claim(in, "sub") || claim(got, "sub") == nil {
				t.Errorf("sub %v is the user's token's sub: Entra's is pairwise per application", claim(got, "sub"))
			}
		})
	}
}

// TestOnBehalfOfConsent: --require-consent makes every exchange for the scope fail with
// AADSTS65001 and its suberror, as on Entra, until the user approves a sign-in of the middle
// tier asking for that scope on the page (the first such sign-in request fails, as where user
// consent is disabled); declining gives nothing. Consent is the user's: another
// user's exchange still fails.
func TestOnBehalfOfConsent(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{ClientSecret: "s", DownstreamAPIs: []string{"downstream"},
		ExposedScopes: []string{"write"}, RequireConsent: []string{"api://downstream/write"}})
	devUser, err := a.IssueAccessToken("", []string{"execute"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := a.IssueAccessTokenAs("bob", []string{"execute"}, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	write := []string{"api://downstream/write"}
	refused := func(when, tok string) {
		t.Helper()
		_, err := oboExchange(t, a, "fastmcp-dev-api", "s", tok, write)
		if err == nil || !strings.Contains(err.Error(), "AADSTS65001") || !strings.Contains(err.Error(), `"suberror":"consent_required"`) {
			t.Fatalf("%s: err = %v, want AADSTS65001 with suberror consent_required", when, err)
		}
	}
	for i := range 3 {
		refused(fmt.Sprintf("exchange %d before consent", i+1), devUser)
	}
	// The middle tier's sign-in for the scope, on the page: declined, then approved.
	signIn := func(action string) {
		t.Helper()
		status, body := postForm(t, a, "/oauth2/v2.0/devicecode", url.Values{"client_id": {"fastmcp-dev-api"}, "scope": {write[0]}})
		if status != 200 {
			t.Fatalf("devicecode: %d %v", status, body)
		}
		if status, page := newBrowser(t, a).decide(body["user_code"].(string), action); status != 200 {
			t.Fatalf("%s: %d\n%s", action, status, page)
		}
	}
	// The first sign-in request for the scope fails, as where user consent is disabled until
	// an administrator allows it; it gives no consent either.
	if status, body := postForm(t, a, "/oauth2/v2.0/devicecode", url.Values{"client_id": {"fastmcp-dev-api"}, "scope": {write[0]}}); status != 400 || !strings.Contains(fmt.Sprint(body["error_codes"]), "65001") {
		t.Fatalf("first sign-in request for the scope: %d %v, want 400 with AADSTS65001", status, body)
	}
	refused("after the refused first sign-in", devUser)
	signIn("decline")
	refused("after a declined sign-in", devUser)
	signIn("approve")
	if _, err := oboExchange(t, a, "fastmcp-dev-api", "s", devUser, write); err != nil {
		t.Fatalf("after consent: %v", err)
	}
	refused("another user", bob)
}

// TestRequireConsentMustNameAnExposedScope: a misspelt --require-consent scope is a
// configuration error, not a silently disabled failure.
func TestRequireConsentMustNameAnExposedScope(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		scope string
		ok    bool
	}{
		{"read", true},
		{"api://fastmcp-dev-api/write", true},
		{"api://downstream/write", true},
		{"nothing-exposed", false},
		{"api://downstream/nothing", false},
		{"api://nobody/write", false},
	} {
		_, err := devauthority.New(devauthority.Config{StateDir: t.TempDir(), Addr: "127.0.0.1:0", DownstreamAPIs: []string{"downstream"},
			ExposedScopes: []string{"write"}, RequireConsent: []string{tc.scope}})
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, devauthority.ErrInvalidConfig)) {
			t.Errorf("RequireConsent %q: err = %v, want ok=%v (else ErrInvalidConfig)", tc.scope, err, tc.ok)
		}
	}
}

// oboExchange runs one MSAL On-Behalf-Of exchange as client with secret.
func oboExchange(t *testing.T, a *devauthority.Authority, client, secret, assertion string, scopes []string) (confidential.AuthResult, error) {
	t.Helper()
	cred, err := confidential.NewCredFromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	app, err := confidential.New(a.URL(), client, cred, confidential.WithHTTPClient(a.HTTPClient()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	return app.AcquireTokenOnBehalfOf(context.Background(), assertion, scopes)
}
