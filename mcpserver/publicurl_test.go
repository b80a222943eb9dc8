package mcpserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

func rejectAll(context.Context, string) (*auth.Identity, error) {
	return nil, &auth.TokenError{Reason: auth.ReasonMalformed, Description: "bad"}
}

// TestPublicURLFromRequest: without a configured public URL, clients are told the URL they
// used; with one, every client is told that one.
func TestPublicURLFromRequest(t *testing.T) {
	for _, tc := range []struct {
		name        string
		fromRequest bool
		host        string
		wantBase    string
	}{
		{"derived, localhost", true, "localhost:8000", "http://localhost:8000"},
		{"derived, 127.0.0.1", true, "127.0.0.1:8000", "http://127.0.0.1:8000"},
		{"derived, machine name", true, "mcp.internal:8000", "http://mcp.internal:8000"},
		{"configured wins", false, "127.0.0.1:8000", "http://localhost:8000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Handler(Config{Verifier: rejectAll, RequiredScopes: []string{"execute"},
				PublicURL: "http://localhost:8000/mcp", PublicURLFromRequest: tc.fromRequest})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "http://"+tc.host+WellKnownPRM+"/mcp", nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var prm struct {
				Resource string `json:"resource"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &prm); err != nil || rec.Code != http.StatusOK {
				t.Fatalf("metadata: %d %s (%v)", rec.Code, rec.Body, err)
			}
			if want := tc.wantBase + "/mcp"; prm.Resource != want {
				t.Errorf("resource = %q, want %q", prm.Resource, want)
			}
			req = httptest.NewRequest(http.MethodPost, "http://"+tc.host+"/mcp", strings.NewReader("{}"))
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			want := `resource_metadata="` + tc.wantBase + WellKnownPRM + `/mcp"`
			if got := rec.Header().Get("WWW-Authenticate"); rec.Code != http.StatusUnauthorized || !strings.Contains(got, want) {
				t.Errorf("%d %q, want 401 with %s", rec.Code, got, want)
			}
		})
	}
}

// TestOriginLoopbackSameHost: a page served under another loopback name than the public
// URL's is same-origin; a DNS-rebinding page (Origin == Host, but the attacker's name) is not.
func TestOriginLoopbackSameHost(t *testing.T) {
	h, err := Handler(Config{NoAuth: true, PublicURL: "http://localhost:8000/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host, origin string
		want         int
	}{
		{"127.0.0.1:8000", "http://127.0.0.1:8000", http.StatusOK},
		{"[::1]:8000", "http://[::1]:8000", http.StatusOK},
		{"localhost:8000", "http://localhost:8000", http.StatusOK},
		{"127.0.0.1:8000", "http://127.0.0.1:9999", http.StatusForbidden},
		{"evil.example:8000", "http://evil.example:8000", http.StatusForbidden},
		{"127.0.0.1:8000", "http://evil.example:8000", http.StatusForbidden},
	} {
		req := httptest.NewRequest(http.MethodPost, "http://"+tc.host+"/reverse", strings.NewReader(`{"input_string":"ab"}`))
		req.Header.Set("Origin", tc.origin)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("Host %s, Origin %s: status %d, want %d (%s)", tc.host, tc.origin, rec.Code, tc.want, rec.Body)
		}
	}
}
