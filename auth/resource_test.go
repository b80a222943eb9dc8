package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
)

// TestDiscoverServerRefusesCrossOriginRedirect: metadata redirected to another origin is not
// followed, so another host cannot supply the authority.
func TestDiscoverServerRefusesCrossOriginRedirect(t *testing.T) {
	t.Parallel()
	evil := newHTTPServer(t, func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"resource": "x", "authorization_servers": []string{"https://evil.example/t/v2.0"}})
	})
	srv := newHTTPServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/mcp" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, evil.URL+r.URL.Path, http.StatusFound)
	})
	rec, err := DiscoverServer(context.Background(), srv.Client(), srv.URL+"/mcp")
	if err == nil || !errors.Is(err, ErrMetadataRefused) {
		t.Fatalf("DiscoverServer = %+v, %v; want a refusal", rec, err)
	}
}

func TestAuthorityOfIssuer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"https://login.microsoftonline.com/tid/v2.0", "https://login.microsoftonline.com/tid"},
		{"https://sts.windows.net/tid/", "https://login.microsoftonline.com/tid"},
		{"https://127.0.0.1:8443/dev/v2.0", "https://127.0.0.1:8443/dev"},
		{"http://127.0.0.1:8443/dev/v2.0", ""},
		{"https://host/a/b/c", ""},
	} {
		got, err := authorityOfIssuer(tc.in)
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("authorityOfIssuer(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}
