package auth_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// oboCounter counts the On-Behalf-Of grants sent through it.
type oboCounter struct {
	base  http.RoundTripper
	count atomic.Int32
}

func (c *oboCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") && r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("requested_token_use") == "on_behalf_of" {
			c.count.Add(1)
		}
	}
	return c.base.RoundTrip(r)
}

// oboSetup starts a dev authority with a downstream API and returns an OnBehalfOf for
// scopes, with the counter of its grants.
func oboSetup(t *testing.T, scopes ...string) (*devauthority.Authority, *auth.OnBehalfOf, *oboCounter) {
	t.Helper()
	a := testenv.DevAuthority(t, devauthority.Config{ClientSecret: "api-s3cret", DownstreamAPIs: []string{"downstream"},
		ExposedScopes: []string{"write"}, RequireConsent: []string{"api://downstream/write"}})
	hc := a.HTTPClient()
	counter := &oboCounter{base: hc.Transport}
	o, err := auth.NewOnBehalfOf(auth.OBOConfig{Authority: a.URL(), ClientID: devauthority.DefaultAPIClientID, Secret: "api-s3cret",
		Scopes: scopes, HTTPClient: &http.Client{Transport: counter}})
	if err != nil {
		t.Fatal(err)
	}
	return a, o, counter
}

// userOf issues oid's token for the main API and the identity serve would verify from it.
func userOf(t *testing.T, a *devauthority.Authority, oid string) (*auth.Identity, string) {
	t.Helper()
	tok, err := a.IssueAccessTokenAs(oid, []string{"execute"}, nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	id, err := auth.UnverifiedIdentity(tok)
	if err != nil {
		t.Fatal(err)
	}
	return id, tok
}

// TestOnBehalfOfDevAuthority: 50 concurrent first calls of one user cost one grant at the
// authority; the token is the user's, for the downstream API; another user gets their own.
func TestOnBehalfOfDevAuthority(t *testing.T) {
	t.Parallel()
	a, o, counter := oboSetup(t, "api://downstream/read")
	id, assertion := userOf(t, a, "alice")
	toks := auth.ConcurrentTokens(t, 50, func() (*auth.Token, error) { return o.Token(t.Context(), id, assertion, false) })
	if n := counter.count.Load(); n != 1 {
		t.Fatalf("grants at the authority = %d, want 1", n)
	}
	got, err := auth.UnverifiedIdentity(toks[0])
	if err != nil {
		t.Fatal(err)
	}
	if got.ObjectID != "alice" || got.ClientID != devauthority.DefaultAPIClientID || len(got.Audience) != 1 || got.Audience[0] != "downstream" {
		t.Fatalf("OBO token: oid %q azp %q aud %v; want alice, the API, downstream", got.ObjectID, got.ClientID, got.Audience)
	}
	for _, tk := range toks {
		if tk != toks[0] {
			t.Fatal("callers got different tokens")
		}
	}
	bob, bobAssertion := userOf(t, a, "bob")
	tok, err := o.Token(t.Context(), bob, bobAssertion, false)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := auth.UnverifiedIdentity(tok.AccessToken); b.ObjectID != "bob" {
		t.Fatalf("bob's token is %q's", b.ObjectID)
	}
	if _, err := o.Token(t.Context(), id, assertion, true); err != nil {
		t.Fatal(err)
	}
	if n := counter.count.Load(); n != 3 {
		t.Fatalf("grants after bob and a forced refresh = %d, want 3", n)
	}
}

// TestOnBehalfOfConsentRequired: AADSTS65001 is an *InteractionRequiredError saying what to
// do, holding no token, cached for a few seconds.
func TestOnBehalfOfConsentRequired(t *testing.T) {
	t.Parallel()
	a, o, counter := oboSetup(t, "api://downstream/write")
	id, assertion := userOf(t, a, "carol")
	_, err := o.Token(t.Context(), id, assertion, false)
	var ir *auth.InteractionRequiredError
	if !errors.As(err, &ir) || ir.Code != auth.CodeConsentRequired || ir.AADSTS != 65001 {
		t.Fatalf("err = %#v, want an InteractionRequiredError consent_required 65001", err)
	}
	want := "consent to api://downstream/write is required: an administrator grants admin consent for the API's permission, or the user signs in again with prompt=consent"
	if err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
	if strings.Contains(err.Error(), assertion) || strings.Contains(err.Error(), "api-s3cret") {
		t.Error("the message holds a token or the secret")
	}
	if _, err := o.Token(t.Context(), id, assertion, true); !errors.As(err, &ir) {
		t.Fatalf("second call: %v, want the cached failure", err)
	}
	if n := counter.count.Load(); n != 1 {
		t.Fatalf("grants = %d, want 1 (the failure is cached)", n)
	}
}

// TestOnBehalfOfRefusesAppOnly: an app's token is never sent to the authority.
func TestOnBehalfOfRefusesAppOnly(t *testing.T) {
	t.Parallel()
	_, o, counter := oboSetup(t, "api://downstream/read")
	_, err := o.Token(t.Context(), &auth.Identity{ObjectID: "app", Roles: []string{"execute"}}, "x.y.z", false)
	if !errors.Is(err, auth.ErrOBOFailed) || counter.count.Load() != 0 {
		t.Fatalf("err = %v, grants = %d; want ErrOBOFailed and none", err, counter.count.Load())
	}
}

// TestOnBehalfOfClaimsChallenge: Entra's interaction_required answer with a claims challenge
// (the OBO documentation's error example, AADSTS50079) is an *InteractionRequiredError
// carrying the claims.
func TestOnBehalfOfClaimsChallenge(t *testing.T) {
	t.Parallel()
	claims := `{"access_token":{"polids":{"essential":true,"values":["9ab03e19-ed42-4168-b6b7-7001fb3e933a"]}}}`
	body, _ := json.Marshal(map[string]any{"error": "interaction_required",
		"error_description": "AADSTS50079: Due to a configuration change made by your administrator, or because you moved to a new location, you are required to enroll in multi-factor authentication.\r\nTrace ID: x",
		"error_codes":       []int{50079}, "claims": claims})
	srv, _ := entraFake(t, http.StatusBadRequest, string(body))
	o, err := auth.NewOnBehalfOf(auth.OBOConfig{Authority: srv.URL + "/tenant1", ClientID: "api", Secret: "s",
		Scopes: []string{"https://graph.microsoft.com/User.Read"}, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = o.Token(t.Context(), &auth.Identity{ObjectID: "u", TenantID: "t", Scopes: []string{"execute"}}, "a.b.c", false)
	var ir *auth.InteractionRequiredError
	if !errors.As(err, &ir) || ir.Code != auth.CodeInteractionRequired || ir.Claims != claims || ir.AADSTS != 50079 {
		t.Fatalf("err = %#v, want interaction_required with the claims", err)
	}
	if !strings.Contains(err.Error(), "multi-factor") || strings.Contains(err.Error(), "\n") {
		t.Errorf("message %q: want one line about Conditional Access", err.Error())
	}
}

// TestOnBehalfOfCertificate: with --api-client-cert-file the grant carries a client
// assertion (RFC 7523) and no secret.
func TestOnBehalfOfCertificate(t *testing.T) {
	t.Parallel()
	srv, last := entraFake(t, http.StatusOK, `{"token_type":"Bearer","access_token":"downstream-token","expires_in":3600}`)
	pemFile := writeCertPEM(t)
	o, err := auth.NewOnBehalfOf(auth.OBOConfig{Authority: srv.URL + "/tenant1", ClientID: "api", CertFile: pemFile,
		Scopes: []string{"https://graph.microsoft.com/User.Read"}, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := o.Token(t.Context(), &auth.Identity{ObjectID: "u", TenantID: "t", Scopes: []string{"execute"}}, "user.assertion.jwt", false)
	if err != nil || tok.AccessToken != "downstream-token" {
		t.Fatalf("Token: %v, %v", tok, err)
	}
	form := last()
	if got := form["client_assertion_type"]; len(got) != 1 || got[0] != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		t.Errorf("client_assertion_type = %v", got)
	}
	if len(form["client_secret"]) != 0 || len(form["client_assertion"]) != 1 {
		t.Errorf("form has client_secret %v, client_assertion %d", form["client_secret"], len(form["client_assertion"]))
	}
	for k, want := range map[string]string{"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "requested_token_use": "on_behalf_of", "assertion": "user.assertion.jwt"} {
		if got := form[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %v, want %s", k, got, want)
		}
	}
}

// TestNewOnBehalfOfConfig: configuration errors, one line each.
func TestNewOnBehalfOfConfig(t *testing.T) {
	t.Parallel()
	base := auth.OBOConfig{Authority: "https://login.microsoftonline.com/contoso", ClientID: "api", Secret: "s", Scopes: []string{"https://graph.microsoft.com/User.Read"}}
	tests := []struct {
		name string
		edit func(c *auth.OBOConfig)
		want string
	}{
		{"two resources", func(c *auth.OBOConfig) { c.Scopes = append(c.Scopes, "api://downstream/read") }, "two resources, https://graph.microsoft.com and api://downstream"},
		{"bare scope is Graph's", func(c *auth.OBOConfig) { c.Scopes = []string{"User.Read", "api://x/read"} }, "two resources, https://graph.microsoft.com and api://x"},
		{"no scope", func(c *auth.OBOConfig) { c.Scopes = []string{"openid"} }, "no downstream scope"},
		{"both credentials", func(c *auth.OBOConfig) { c.CertFile = "x.pem" }, "not both"},
		{"no credential", func(c *auth.OBOConfig) { c.Secret = "" }, "client secret or certificate"},
		{"no client ID", func(c *auth.OBOConfig) { c.ClientID = "" }, "--api-client-id"},
		{"bad cert file", func(c *auth.OBOConfig) { c.Secret, c.CertFile = "", os.DevNull }, "certificate and its unencrypted private key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			cfg.Scopes = append([]string(nil), base.Scopes...)
			tc.edit(&cfg)
			_, err := auth.NewOnBehalfOf(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line with %q", err, tc.want)
			}
		})
	}
	if r, err := auth.OBOResource([]string{"api://d/read", "API://D/write", "offline_access"}); err != nil || r != "api://d" {
		t.Errorf("OBOResource = %q, %v; want api://d", r, err)
	}
}
