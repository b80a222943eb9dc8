package devauthority_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// Regression tests of issue 10 for the development authority.

// TestAutoApproveOnlyLoopbackRedirects: with --auto-approve nobody reads a consent page, so a
// code must never be handed to a redirect URI off this machine; without it, the page still
// shows such a URI for the developer to approve.
func TestAutoApproveOnlyLoopbackRedirects(t *testing.T) {
	t.Parallel()
	_, challenge := pkcePair("abc")
	query := func(redirect string) string {
		return url.Values{"client_id": {"spa"}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {testScope + " offline_access"},
			"state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode()
	}
	auto := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true})
	manual := testenv.DevAuthority(t, devauthority.Config{})
	for _, tc := range []struct {
		name     string
		a        *devauthority.Authority
		redirect string
		status   int
	}{
		{"auto-approve, https site", auto, "https://evil.example/cb", http.StatusBadRequest},
		{"auto-approve, localhost subdomain", auto, "https://localhost.evil.example/cb", http.StatusBadRequest},
		{"auto-approve, loopback", auto, "http://127.0.0.1:9000/cb", http.StatusSeeOther},
		{"auto-approve, localhost https", auto, "https://localhost:9000/cb", http.StatusSeeOther},
		{"consent page, https site", manual, "https://app.example/cb", http.StatusOK},
	} {
		b := newBrowser(t, tc.a)
		resp, err := b.c.Get(tc.a.URL() + "/oauth2/v2.0/authorize?" + query(tc.redirect))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
		if loc := resp.Header.Get("Location"); tc.status != http.StatusSeeOther && loc != "" {
			t.Errorf("%s: redirected to %s", tc.name, loc)
		}
	}
}

// TestTokenEndpointCORSLoopbackOnly: a web page elsewhere must not read the token endpoint's
// answers (with --auto-approve it could otherwise obtain the developer's tokens).
func TestTokenEndpointCORSLoopbackOnly(t *testing.T) {
	t.Parallel()
	a := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true})
	for origin, allowed := range map[string]bool{
		"http://localhost:8000":           true,
		"http://127.0.0.1:5173":           true,
		"https://[::1]:8443":              true,
		"https://evil.example":            false,
		"http://localhost.evil.example":   false,
		"null":                            false,
		"http://localhost:8000/path":      false,
		"javascript://localhost:8000/%0a": false,
	} {
		for _, method := range []string{http.MethodOptions, http.MethodPost} {
			got := tokenCORS(t, a, method, origin).Header.Get("Access-Control-Allow-Origin")
			if allowed && got != origin || !allowed && got != "" {
				t.Errorf("%s from %q: Access-Control-Allow-Origin %q, want allowed=%v", method, origin, got, allowed)
			}
		}
	}
}

// TestCodeReplayNeedsTheVerifier: replaying a redeemed code without its PKCE verifier (or
// from another client) is refused and leaves the user's refresh tokens alone; a replay with
// the verifier still revokes the family, as RFC 6749 section 4.1.2 asks.
func TestCodeReplayNeedsTheVerifier(t *testing.T) {
	t.Parallel()
	const redirect = "http://localhost:8000/callback"
	verifier, challenge := pkcePair("v3rifier")
	wrong, _ := pkcePair("attacker")
	a := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true})
	code := authorize(t, a, redirect, challenge)
	redeem := func(client, v string) (int, map[string]any) {
		return postForm(t, a, "/oauth2/v2.0/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {client}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {v}})
	}
	status, body := redeem("spa", verifier)
	if status != 200 {
		t.Fatalf("first redemption: %d %v", status, body)
	}
	rt := body["refresh_token"].(string)
	refresh := func() bool {
		status, body := postForm(t, a, "/oauth2/v2.0/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"spa"}, "refresh_token": {rt}})
		if status == 200 {
			rt = body["refresh_token"].(string)
		}
		return status == 200
	}
	for _, replay := range []struct{ client, verifier string }{{"spa", wrong}, {"intruder", verifier}, {"intruder", wrong}} {
		if status, body := redeem(replay.client, replay.verifier); status != 400 || body["error"] != "invalid_grant" {
			t.Errorf("replay by %v: %d %v, want 400 invalid_grant", replay, status, body["error"])
		}
		if !refresh() {
			t.Fatalf("a replay by %v without the verifier revoked the user's refresh tokens", replay)
		}
	}
	if status, _ := redeem("spa", verifier); status != 400 {
		t.Fatalf("replay with the verifier: %d, want 400", status)
	}
	if refresh() {
		t.Error("a replay with the verifier did not revoke the family")
	}
}
