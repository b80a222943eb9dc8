package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestNewServerVerifier covers what serve and demo share: what discovery fills in, the
// authorization server to publish, and the failure classes the CLI maps to exit codes.
func TestNewServerVerifier(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	keys := f.srv.URL + "/discovery/v2.0/keys"
	// discovery serves, for the tenant segment of the request, the issuer that segment names:
	// "dev" an ordinary one, "common" Entra's multi-tenant template, "nokeys" no jwks_uri.
	mux := http.NewServeMux()
	disc := newHTTPServer(t, mux.ServeHTTP)
	base := disc.URL
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		tenant := r.PathValue("tenant")
		doc := map[string]string{"issuer": base + "/" + tenant + "/v2.0", "jwks_uri": keys}
		switch tenant {
		case "common":
			doc["issuer"] = "https://login.microsoftonline.com/{tenantid}/v2.0"
		case "nokeys":
			delete(doc, "jwks_uri")
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, doc["issuer"], doc["jwks_uri"]) // ASCII: %q is JSON
	})
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	type result struct {
		AuthorizationServer, JWKSURI, Discovered string
		Issuers                                  []string
	}
	tests := []struct {
		name      string
		cfg       ServerVerifierConfig
		want      result
		wantClass error // nil: success
		unreach   bool
	}{
		{name: "key set and issuers given: no discovery",
			cfg:  ServerVerifierConfig{JWKSURI: keys, Issuers: []string{testIssuerV2}},
			want: result{AuthorizationServer: testIssuerV2, JWKSURI: keys, Issuers: []string{testIssuerV2}}},
		{name: "discovered",
			cfg: ServerVerifierConfig{Authority: base + "/dev"},
			want: result{AuthorizationServer: base + "/dev/v2.0", JWKSURI: keys, Issuers: []string{base + "/dev/v2.0"},
				Discovered: base + "/dev/v2.0/.well-known/openid-configuration"}},
		{name: "multi-tenant issuer template", cfg: ServerVerifierConfig{Authority: base + "/common"}, wantClass: ErrMultiTenantIssuer},
		{name: "discovery without a key set", cfg: ServerVerifierConfig{Authority: base + "/nokeys"}, wantClass: ErrDiscoveryFailed},
		{name: "authority unreachable", cfg: ServerVerifierConfig{Authority: closed.URL + "/dev"}, wantClass: ErrDiscoveryFailed, unreach: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := tt.cfg
			cfg.Audiences = DefaultAudiences(testAPI, "")
			v, err := NewServerVerifier(context.Background(), cfg)
			if tt.wantClass != nil {
				if !errors.Is(err, tt.wantClass) || IsUnreachable(err) != tt.unreach {
					t.Fatalf("error %v: want one matching %v, unreachable %v", err, tt.wantClass, tt.unreach)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(v.Close)
			got := result{AuthorizationServer: v.AuthorizationServer, JWKSURI: v.JWKSURI, Discovered: v.Discovered, Issuers: v.Issuers}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
