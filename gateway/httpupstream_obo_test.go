package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// revokingUpstream is recordingUpstream answering 401 to a tools/call that carries the
// token revoked, as a resource server does once it refuses a token (revocation, a new
// Conditional Access policy).
type revokingUpstream struct {
	recordingUpstream
	revoked string
}

func (u *revokingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var m struct{ Method string }
	_ = json.Unmarshal(body, &m)
	if r.Header.Get("Authorization") == "Bearer "+u.revoked && (m.Method == "tools/call" || m.Method == "tools/list") {
		u.mu.Lock()
		u.auth = append(u.auth, r.Header.Get("Authorization"))
		u.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="token revoked"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	u.recordingUpstream.ServeHTTP(w, r)
}

// oboHarness runs a gateway with an --upstream whose sessions get the exchange's tokens:
// "obo-stale" unforced (the upstream refuses it after initialize), then forced.
func oboHarness(t *testing.T, forced func() (*auth.Token, error)) (*harness, *revokingUpstream, *[]bool) {
	t.Helper()
	up := &revokingUpstream{revoked: "obo-stale"}
	upSrv := httptest.NewServer(up)
	t.Cleanup(upSrv.Close)
	var mu sync.Mutex
	var calls []bool
	h := newHarness(t, func(c *Config) {
		c.Dial = Remote{URL: upSrv.URL, Headers: http.Header{"Authorization": {"Bearer static-must-not-win"}}}.Dial
		c.OBO = func(_ context.Context, id *auth.Identity, assertion string, force bool) (*auth.Token, error) {
			mu.Lock()
			calls = append(calls, force)
			mu.Unlock()
			if assertion != "caller-token-of-"+id.ObjectID {
				t.Errorf("exchanged %q for %s", assertion, id.ObjectID)
			}
			if force {
				return forced()
			}
			return &auth.Token{AccessToken: "obo-stale"}, nil
		}
	})
	return h, up, &calls
}

// TestRemoteUpstreamGetsTheOBOToken: with OBO the upstream gets the exchanged token, never
// the caller's nor a static Authorization; its 401 causes one forced exchange and a retry.
func TestRemoteUpstreamGetsTheOBOToken(t *testing.T) {
	t.Parallel()
	h, up, calls := oboHarness(t, func() (*auth.Token, error) { return &auth.Token{AccessToken: "obo-fresh"}, nil })
	c := h.client("alice")
	c.initialize()
	msgs := c.call("tools/call", map[string]any{"name": "remote-tool", "arguments": map[string]any{}})
	if m := final(t, msgs); m.Error != nil {
		t.Fatalf("tools/call: %+v", m.Error)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	seen := strings.Join(up.auth, "|")
	if strings.Contains(seen, "caller-token-of") || strings.Contains(seen, "static-must-not-win") {
		t.Errorf("the upstream saw %q: want only OBO tokens", seen)
	}
	if !strings.Contains(seen, "Bearer obo-fresh") || !strings.HasPrefix(seen, "Bearer obo-stale") {
		t.Errorf("the upstream saw %q: want obo-stale, then obo-fresh after its 401", seen)
	}
	if len(*calls) != 2 || (*calls)[0] || !(*calls)[1] {
		t.Errorf("exchanges (force flags) = %v, want [false true]", *calls)
	}
}

// TestOBOInteractionRequiredIsAToolError: an exchange needing the user (consent, MFA)
// answers tools/call with a tool result (isError) saying what to do, and other requests with
// a JSON-RPC error; never a hang or an HTTP 500.
func TestOBOInteractionRequiredIsAToolError(t *testing.T) {
	t.Parallel()
	need := &auth.InteractionRequiredError{Code: auth.CodeConsentRequired, AADSTS: 65001, Scopes: []string{"api://downstream/read"}}
	h, _, _ := oboHarness(t, func() (*auth.Token, error) { return nil, need })
	c := h.client("alice")
	c.initialize()
	m := final(t, c.call("tools/call", map[string]any{"name": "remote-tool", "arguments": map[string]any{}}))
	var res struct {
		IsError bool `json:"isError"`
		Content []struct {
			Type, Text string
		} `json:"content"`
	}
	if m.Error != nil || json.Unmarshal(m.Result, &res) != nil || !res.IsError || len(res.Content) != 1 || res.Content[0].Text != need.Error() {
		t.Fatalf("tools/call answer: error %+v result %s; want isError with %q", m.Error, m.Result, need.Error())
	}
	// Another request refused meanwhile gets the same reason, as a JSON-RPC error (within
	// the forced-refresh interval the supply answers with the failure, not the refused token).
	if m := final(t, c.call("tools/list", map[string]any{})); m.Error == nil || m.Error.Message != need.Error() {
		t.Fatalf("tools/list: %s %+v, want a JSON-RPC error saying %q", m.Result, m.Error, need.Error())
	}
}
