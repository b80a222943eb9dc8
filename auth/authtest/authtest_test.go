package authtest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func header(t *testing.T, token string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(token, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMintHeaders(t *testing.T) {
	t.Parallel()
	k := NewKey(t, "k1")
	tests := []struct {
		name  string
		token string
		want  map[string]any
		sig   bool
	}{
		{"Mint", Mint(t, k, map[string]any{"a": 1}), map[string]any{"alg": "RS256", "typ": "JWT", "kid": "k1"}, true},
		{"MintWith removes and adds", MintWith(t, k, map[string]any{"kid": nil, "x": "y"}, nil, "PS256"), map[string]any{"alg": "PS256", "typ": "JWT", "x": "y"}, true},
		{"none", MintWith(t, k, nil, nil, "none"), map[string]any{"alg": "none", "typ": "JWT", "kid": "k1"}, false},
		{"HMAC", MintHMAC(t, []byte("s"), nil, nil, "HS256"), map[string]any{"alg": "HS256", "typ": "JWT"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, header(t, tt.token)); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if parts := strings.Split(tt.token, "."); len(parts) != 3 || (parts[2] != "") != tt.sig {
				t.Errorf("token %q: want 3 parts, signature present %v", tt.token, tt.sig)
			}
		})
	}
}

func TestJWKSServer(t *testing.T) {
	t.Parallel()
	k := NewKey(t, "k1")
	s := NewJWKSServer(t, k)
	get := func() (int, map[string][]map[string]any) {
		resp, err := http.Get(s.URL + "/keys")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		var doc map[string][]map[string]any
		_ = json.Unmarshal(b, &doc)
		return resp.StatusCode, doc
	}
	code, doc := get()
	if code != http.StatusOK || len(doc["keys"]) != 1 || doc["keys"][0]["kid"] != "k1" || doc["keys"][0]["alg"] != nil {
		t.Errorf("got %d %v, want one key k1 without alg", code, doc)
	}
	s.SetStatus(http.StatusServiceUnavailable)
	if code, _ := get(); code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", code)
	}
	s.SetStatus(http.StatusOK)
	s.SetKeys()
	if code, doc := get(); code != http.StatusOK || len(doc["keys"]) != 0 {
		t.Errorf("got %d %v, want an empty set", code, doc)
	}
	if got := s.Fetches(); got != 3 {
		t.Errorf("Fetches = %d, want 3", got)
	}
}
