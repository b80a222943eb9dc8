package devauthority_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/google/go-cmp/cmp"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// msalSignIn runs MSAL Go's device code flow for clientID and scopes against an auto-approving
// authority and returns the result or MSAL's error.
func msalSignIn(t *testing.T, a *devauthority.Authority, clientID string, scopes []string) (public.AuthResult, error) {
	t.Helper()
	app, err := public.New(clientID, public.WithAuthority(a.URL()), public.WithInstanceDiscovery(false),
		public.WithHTTPClient(a.HTTPClient()), public.WithCache(&memCache{}))
	if err != nil {
		t.Fatalf("public.New: %v", err)
	}
	ctx := context.Background()
	dc, err := app.AcquireTokenByDeviceCode(ctx, scopes)
	if err != nil {
		return public.AuthResult{}, err
	}
	return dc.AuthenticationResult(ctx)
}

// parseUnverified decodes a token's claims (the signature is checked by other tests).
func parseUnverified(t *testing.T, token string) jwt.Token {
	t.Helper()
	tok, err := jwt.ParseString(token, jwt.WithVerify(false), jwt.WithValidate(false))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return tok
}

// TestEntraErrorsWithMSAL: the authority fails where Entra fails, with Entra's codes, for a
// real MSAL Go client: a bare scope (Graph's), an unknown API, a scope the API does not
// expose, two APIs at once, a confidential client's device code, a scope needing consent
// (first request only); and it grants an exposed extra scope, a downstream API's scope, and
// the scope needing consent on the next sign-in.
func TestEntraErrorsWithMSAL(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{
		StateDir: t.TempDir(), Addr: "127.0.0.1:0", AutoApprove: true,
		DownstreamAPIs: []string{"downstream-api"}, ExposedScopes: []string{"admin"},
		ConfidentialClients: []string{"web-app"}, RequireConsent: []string{"read"},
	})
	const api = "api://fastmcp-dev-api"
	tests := []struct {
		name, client string
		scopes       []string
		wantErr      string // an AADSTS code; "" for success
		wantAud      string
		wantScp      string
	}{
		{"bare scope is Graph's", testClient, []string{"execute"}, "AADSTS650053", "", ""},
		{"unknown API", testClient, []string{"api://nobody/execute"}, "AADSTS500011", "", ""},
		{"scope not exposed", testClient, []string{api + "/delete"}, "AADSTS65005", "", ""},
		{"two APIs in one request", testClient, []string{api + "/execute", "api://downstream-api/execute"}, "AADSTS28000", "", ""},
		{"confidential client", "web-app", []string{api + "/execute"}, "AADSTS7000218", "", ""},
		{"exposed extra scope", testClient, []string{api + "/admin"}, "", "fastmcp-dev-api", "admin"},
		{"downstream API", testClient, []string{"api://downstream-api/read"}, "", "downstream-api", "read"},
		// The first sign-in request of a client for the scope fails, as where user consent is
		// disabled until an administrator allows it; the next one's approval is the consent.
		{"consent required, first request", "consent-cli", []string{api + "/read"}, "AADSTS65001", "", ""},
		{"consent required, then given by the sign-in", "consent-cli", []string{api + "/read"}, "", "fastmcp-dev-api", "read"},
	}
	// Sequential: the two consent cases depend on their order.
	for _, tc := range tests {
		res, err := msalSignIn(t, a, tc.client, tc.scopes)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %s", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		tok := parseUnverified(t, res.AccessToken)
		if aud := tok.Audience(); len(aud) != 1 || aud[0] != tc.wantAud || claim(tok, "scp") != tc.wantScp || claim(tok, "tid") != a.TenantID() {
			t.Errorf("%s: aud %v scp %v tid %v, want %s %s %s", tc.name, aud, claim(tok, "scp"), claim(tok, "tid"), tc.wantAud, tc.wantScp, a.TenantID())
		}
	}
}

// TestResourceParameter: an RFC 8707 resource other than the identifier URI of the requested
// scopes' API is AADSTS9010010 (what MCP hosts sending the server URL meet); the identifier URI
// itself is accepted; with --app-id-uri equal to the server URL, the server URL is accepted.
func TestResourceParameter(t *testing.T) {
	t.Parallel()
	const serverURL = "http://127.0.0.1:8000/mcp"
	plain := testenv.DevAuthority(t, devauthority.Config{StateDir: t.TempDir(), Addr: "127.0.0.1:0", AutoApprove: true})
	byURL := testenv.DevAuthority(t, devauthority.Config{StateDir: t.TempDir(), Addr: "127.0.0.1:0", AutoApprove: true, AppIDURI: serverURL})
	for _, tc := range []struct {
		name     string
		a        *devauthority.Authority
		scope    string
		resource string
		status   int
		code     float64
	}{
		{"server URL as resource", plain, "api://fastmcp-dev-api/execute offline_access", serverURL, 400, 9010010},
		{"identifier URI as resource", plain, "api://fastmcp-dev-api/execute", "api://fastmcp-dev-api", 200, 0},
		{"app id URI = server URL", byURL, serverURL + "/execute offline_access", serverURL, 200, 0},
		{"old prefix once the URI changed", byURL, "api://fastmcp-dev-api/execute", "", 400, 500011},
		// Entra compares exactly: a trailing slash added by the host fails (anthropics/claude-code#52871).
		{"identifier URI with a trailing slash", plain, "api://fastmcp-dev-api/execute", "api://fastmcp-dev-api/", 400, 9010010},
		{"server URL with a trailing slash", byURL, serverURL + "/execute", serverURL + "/", 400, 9010010},
		// OpenID scopes name no API for the resource to match.
		{"OpenID scopes only with a resource", plain, "openid profile offline_access", "api://fastmcp-dev-api", 400, 9010010},
		{"OpenID scopes only", plain, "openid profile offline_access", "", 200, 0},
		{"email is not granted (CLI.md)", plain, "openid email", "", 400, 650053},
	} {
		status, body := postForm(t, tc.a, "/oauth2/v2.0/devicecode", url.Values{"client_id": {"mcp-remote"}, "scope": {tc.scope}, "resource": {tc.resource}})
		if status != tc.status {
			t.Errorf("%s: status %d %v, want %d", tc.name, status, body, tc.status)
			continue
		}
		if tc.code != 0 {
			if codes, _ := body["error_codes"].([]any); len(codes) != 1 || codes[0] != tc.code {
				t.Errorf("%s: error_codes %v, want [%v] (%v)", tc.name, body["error_codes"], tc.code, body["error_description"])
			}
		}
	}
}

// TestPromptValues: the authorization endpoint takes prompt=consent (mcp-remote sends it) and
// still redirects with a code; prompt=none gets interaction_required AADSTS50058 even with
// AutoApprove, since the authority keeps no session, as Entra answers a silent request without
// a signed-in user.
func TestPromptValues(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{StateDir: t.TempDir(), Addr: "127.0.0.1:0", AutoApprove: true})
	client := a.HTTPClient()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, tc := range []struct{ prompt, wantErr, wantDesc string }{
		{prompt: "consent"},
		{prompt: "none", wantErr: "interaction_required", wantDesc: "AADSTS50058:"},
	} {
		q := url.Values{"client_id": {"mcp-remote"}, "response_type": {"code"}, "redirect_uri": {"http://localhost:3334/oauth/callback"},
			"scope": {"api://fastmcp-dev-api/execute offline_access"}, "prompt": {tc.prompt}, "state": {"s1"},
			"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
		resp, err := client.Get(a.URL() + "/oauth2/v2.0/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("state") != "s1" {
			t.Fatalf("prompt=%s: status %d, Location %q", tc.prompt, resp.StatusCode, resp.Header.Get("Location"))
		}
		lq := loc.Query()
		if lq.Get("error") != tc.wantErr || !strings.HasPrefix(lq.Get("error_description"), tc.wantDesc) || (tc.wantErr == "") != (lq.Get("code") != "") {
			t.Errorf("prompt=%s: error %q (%q), code given %v; want error %q", tc.prompt, lq.Get("error"), lq.Get("error_description"), lq.Get("code") != "", tc.wantErr)
		}
	}
}

// TestTokenVersion1: with TokenVersion 1, MSAL Go gets a v1 token (ver 1.0, appid, aud the
// identifier URI, the v1 issuer), and the v1 discovery document names that issuer. The tenant
// ID is a GUID.
func TestTokenVersion1(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{StateDir: t.TempDir(), Addr: "127.0.0.1:0", AutoApprove: true, TokenVersion: 1})
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(a.TenantID()) {
		t.Errorf("tenant ID %q is not a GUID", a.TenantID())
	}
	res, err := msalSignIn(t, a, testClient, []string{testScope})
	if err != nil {
		t.Fatal(err)
	}
	tok := parseUnverified(t, res.AccessToken)
	// access-token-claims-reference: preferred_username and azpacr are "only present in v2.0
	// tokens"; v1 tokens have upn, unique_name and appidacr.
	got := map[string]any{}
	for _, k := range []string{"ver", "appid", "azp", "upn", "unique_name", "appidacr", "preferred_username", "azpacr"} {
		got[k] = claim(tok, k)
	}
	got["iss"], got["aud"] = tok.Issuer(), strings.Join(tok.Audience(), " ")
	want := map[string]any{"ver": "1.0", "appid": testClient, "azp": nil, "iss": a.IssuerV1(), "aud": "api://fastmcp-dev-api",
		"upn": "dev@dev.localhost", "unique_name": "dev@dev.localhost", "appidacr": "0", "preferred_username": nil, "azpacr": nil}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("v1 access token (-want +got):\n%s", diff)
	}
	// The resource server's identity takes the user name from upn when, as here, there is no
	// preferred_username (auth/identity.go).
	if id, err := auth.UnverifiedIdentity(res.AccessToken); err != nil || id.Username != "dev@dev.localhost" {
		t.Errorf("identity of the v1 token: %+v, %v; want Username dev@dev.localhost (from upn)", id, err)
	}
	doc := getJSON(t, a, a.URL()+"/.well-known/openid-configuration")
	if doc["issuer"] != a.IssuerV1() || a.IssuerV1() != strings.TrimSuffix(a.URL(), "/dev")+"/"+a.TenantID()+"/" {
		t.Errorf("v1 discovery issuer %v, IssuerV1 %s", doc["issuer"], a.IssuerV1())
	}
	// Every URL the v1 document names is served: none answers 404.
	for k, v := range doc {
		u, ok := v.(string)
		if !ok || !strings.HasPrefix(u, "https://") || k == "issuer" {
			continue
		}
		resp, err := a.HTTPClient().Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			t.Errorf("v1 discovery %s = %s answers 404", k, u)
		}
	}
}

// TestOpenIDScopesOnlyGiveAGraphToken: a sign-in asking for OpenID scopes alone gets, as on
// Entra, an access token for Microsoft Graph (v1, aud its application ID), which the main
// API refuses for its audience, never a token for the main API.
func TestOpenIDScopesOnlyGiveAGraphToken(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{StateDir: t.TempDir(), Addr: "127.0.0.1:0", AutoApprove: true})
	res, err := msalSignIn(t, a, testClient, []string{"openid", "profile", "offline_access"})
	if err != nil {
		t.Fatal(err)
	}
	tok := parseUnverified(t, res.AccessToken)
	got := map[string]any{"aud": strings.Join(tok.Audience(), " "), "ver": claim(tok, "ver"), "scp": claim(tok, "scp"), "iss": tok.Issuer()}
	want := map[string]any{"aud": "00000003-0000-0000-c000-000000000000", "ver": "1.0", "scp": "openid profile User.Read", "iss": a.IssuerV1()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("access token (-want +got):\n%s", diff)
	}
}

// TestConfidentialClientAuthenticates: a --confidential-client must send its secret on the
// authorization code and refresh token grants too (AADSTS7000218 without it), and a public
// client that sends a secret gets AADSTS700025, as Entra answers both (reference-error-codes).
func TestConfidentialClientAuthenticates(t *testing.T) {
	t.Parallel()
	const secret, redirect = "conf-s3cret", "http://localhost:5999/cb"
	a := testenv.DevAuthority(t, devauthority.Config{StateDir: t.TempDir(), Addr: "127.0.0.1:0", AutoApprove: true,
		ClientSecret: secret, ConfidentialClients: []string{"conf-client"}})
	verifier, challenge := pkcePair("c0nf")
	redeem := func(client string, extra url.Values) (int, map[string]any) {
		code := authorizeAs(t, a, client, redirect, challenge)
		f := url.Values{"grant_type": {"authorization_code"}, "client_id": {client}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
		for k, v := range extra {
			f[k] = v
		}
		return postForm(t, a, "/oauth2/v2.0/token", f)
	}
	withSecret := url.Values{"client_secret": {secret}}
	wantError := func(name string, status int, body map[string]any, wantStatus int, wantCode float64) {
		t.Helper()
		if codes, _ := body["error_codes"].([]any); status != wantStatus || body["error"] != "invalid_client" || len(codes) != 1 || codes[0] != wantCode {
			t.Errorf("%s: %d %v %v, want %d invalid_client [%v]", name, status, body["error"], body["error_codes"], wantStatus, wantCode)
		}
	}
	status, body := redeem("conf-client", nil)
	wantError("confidential code without secret", status, body, 401, 7000218)
	status, body = redeem("conf-client", url.Values{"client_secret": {"wrong"}})
	wantError("confidential code with a wrong secret", status, body, 401, 7000215)
	status, body = redeem("conf-client", withSecret)
	rt, _ := body["refresh_token"].(string)
	if status != 200 || rt == "" {
		t.Fatalf("confidential code with its secret: %d %v", status, body["error"])
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "client_id": {"conf-client"}, "refresh_token": {rt}}
	status, body = postForm(t, a, "/oauth2/v2.0/token", refresh)
	wantError("confidential refresh without secret", status, body, 401, 7000218)
	refresh.Set("client_secret", secret)
	if status, body = postForm(t, a, "/oauth2/v2.0/token", refresh); status != 200 {
		t.Errorf("confidential refresh with its secret: %d %v", status, body["error"])
	}
	status, body = redeem("public-client", withSecret)
	wantError("public client sending a secret", status, body, 401, 700025)
	if status, body = redeem("public-client", nil); status != 200 {
		t.Errorf("public client without secret: %d %v", status, body["error"])
	}
}
