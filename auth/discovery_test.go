package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

func TestDiscover(t *testing.T) {
	t.Parallel()
	srv := newHTTPServer(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/v2.0/.well-known/openid-configuration") {
			http.NotFound(w, r)
			return
		}
		switch {
		case strings.HasPrefix(r.URL.Path, "/ok/"):
			_, _ = w.Write([]byte(`{"issuer":"https://issuer.example/t/v2.0","jwks_uri":"https://issuer.example/t/discovery/v2.0/keys",
				"token_endpoint":"https://issuer.example/t/oauth2/v2.0/token","authorization_endpoint":"https://issuer.example/t/oauth2/v2.0/authorize",
				"device_authorization_endpoint":"https://issuer.example/t/oauth2/v2.0/devicecode","extra":[1,2]}`))
		case strings.HasPrefix(r.URL.Path, "/nojwks/"):
			_, _ = w.Write([]byte(`{"issuer":"https://issuer.example/t/v2.0"}`))
		case strings.HasPrefix(r.URL.Path, "/html/"):
			_, _ = w.Write([]byte(`<html>`))
		case strings.HasPrefix(r.URL.Path, "/huge/"):
			_, _ = w.Write([]byte(`{"issuer":"` + strings.Repeat("a", maxDocumentBytes) + `"}`))
		case strings.HasPrefix(r.URL.Path, "/down/"):
			http.Error(w, "down", http.StatusBadGateway)
		default:
			http.NotFound(w, r)
		}
	})

	d, err := Discover(context.Background(), srv.Client(), srv.URL+"/ok/")
	if err != nil {
		t.Fatal(err)
	}
	want := &Discovery{
		Issuer:                      "https://issuer.example/t/v2.0",
		JWKSURI:                     "https://issuer.example/t/discovery/v2.0/keys",
		TokenEndpoint:               "https://issuer.example/t/oauth2/v2.0/token",
		AuthorizationEndpoint:       "https://issuer.example/t/oauth2/v2.0/authorize",
		DeviceAuthorizationEndpoint: "https://issuer.example/t/oauth2/v2.0/devicecode",
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("Discover (-want +got):\n%s", diff)
	}

	dead := "http://" + testenv.FreeAddr(t) + "/tenant"

	tests := []struct {
		name        string
		authority   string
		unreachable bool
		contains    string
	}{
		{"nothing listening", dead, true, dead + "/v2.0/.well-known/openid-configuration"},
		{"5xx", srv.URL + "/down", true, "502"},
		{"404", srv.URL + "/missing", false, "404"},
		{"no jwks_uri", srv.URL + "/nojwks", false, "no issuer or jwks_uri"},
		{"not JSON", srv.URL + "/html", false, "did not answer a JSON document"},
		{"oversized", srv.URL + "/huge", false, "more than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Discover(context.Background(), srv.Client(), tt.authority)
			if err == nil {
				t.Fatal("Discover succeeded")
			}
			if got := errors.Is(err, ErrUnreachable); got != tt.unreachable {
				t.Errorf("errors.Is(ErrUnreachable) = %v, want %v (err %v)", got, tt.unreachable, err)
			}
			if !strings.Contains(err.Error(), tt.contains) || !strings.Contains(err.Error(), tt.authority) {
				t.Errorf("error %q does not contain %q and the URL", err, tt.contains)
			}
		})
	}
}

func TestDefaultIssuers(t *testing.T) {
	t.Parallel()
	const tid = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	tests := []struct {
		name      string
		authority string
		issuer    string
		want      []string
	}{
		{"Entra by tenant ID", "https://login.microsoftonline.com/" + tid, "https://login.microsoftonline.com/" + tid + "/v2.0",
			[]string{"https://login.microsoftonline.com/" + tid + "/v2.0", "https://sts.windows.net/" + tid + "/"}},
		{"Entra by domain name: tid from the discovery issuer", "https://login.microsoftonline.com/contoso.onmicrosoft.com/", "https://login.microsoftonline.com/" + tid + "/v2.0",
			[]string{"https://login.microsoftonline.com/" + tid + "/v2.0", "https://sts.windows.net/" + tid + "/"}},
		{"Entra common: placeholder issuer", "https://login.microsoftonline.com/common", "https://login.microsoftonline.com/{tenantid}/v2.0",
			[]string{"https://login.microsoftonline.com/{tenantid}/v2.0"}},
		{"US Government: v1 issuer on sts.windows.net", "https://login.microsoftonline.us/" + tid, "https://login.microsoftonline.us/" + tid + "/v2.0",
			[]string{"https://login.microsoftonline.us/" + tid + "/v2.0", "https://sts.windows.net/" + tid + "/"}},
		{"China: v1 issuer on sts.chinacloudapi.cn", "https://login.chinacloudapi.cn/" + tid, "https://login.partner.microsoftonline.cn/" + tid + "/v2.0",
			[]string{"https://login.partner.microsoftonline.cn/" + tid + "/v2.0", "https://sts.chinacloudapi.cn/" + tid + "/"}},
		{"development authority", "https://127.0.0.1:8443/dev", "https://127.0.0.1:8443/dev/v2.0",
			[]string{"https://127.0.0.1:8443/dev/v2.0"}},
		{"no discovery", "https://login.microsoftonline.com/" + tid, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d *Discovery
			if tt.issuer != "" {
				d = &Discovery{Issuer: tt.issuer}
			}
			if diff := cmp.Diff(tt.want, DefaultIssuers(tt.authority, d)); diff != "" {
				t.Errorf("DefaultIssuers (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultAudiences(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		id, uri string
		want    []string
	}{
		{"abc", "", []string{"abc", "api://abc"}},
		{"abc", "https://mcp.example.com/", []string{"abc", "https://mcp.example.com"}},
		{"", "api://x", []string{"api://x"}},
	} {
		if diff := cmp.Diff(tt.want, DefaultAudiences(tt.id, tt.uri)); diff != "" {
			t.Errorf("DefaultAudiences(%q, %q) (-want +got):\n%s", tt.id, tt.uri, diff)
		}
	}
}

// TestDiscoverStandardOpenIDPath: a provider without Entra's v2.0 path is discovered at the
// standard <authority>/.well-known/openid-configuration; the v2.0 document wins when both exist.
func TestDiscoverStandardOpenIDPath(t *testing.T) {
	t.Parallel()
	var v2Hits, stdHits atomic.Int32
	srv := newHTTPServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/both/v2.0/.well-known/openid-configuration":
			v2Hits.Add(1)
			_, _ = w.Write([]byte(`{"issuer":"https://idp.example/both/v2.0","jwks_uri":"https://idp.example/both/keys-v2"}`))
		case "/realm/.well-known/openid-configuration", "/both/.well-known/openid-configuration":
			stdHits.Add(1)
			_, _ = w.Write([]byte(`{"issuer":"https://idp.example/realm","jwks_uri":"https://idp.example/realm/certs"}`))
		default:
			http.NotFound(w, r)
		}
	})

	d, err := Discover(context.Background(), srv.Client(), srv.URL+"/realm")
	if err != nil {
		t.Fatal(err)
	}
	if d.Issuer != "https://idp.example/realm" || d.JWKSURI != "https://idp.example/realm/certs" {
		t.Errorf("standard path: got %+v", d)
	}
	d, err = Discover(context.Background(), srv.Client(), srv.URL+"/both")
	if err != nil {
		t.Fatal(err)
	}
	if d.JWKSURI != "https://idp.example/both/keys-v2" || v2Hits.Load() != 1 || stdHits.Load() != 1 {
		t.Errorf("v2.0 must win when present: got %+v (v2 hits %d, standard hits %d)", d, v2Hits.Load(), stdHits.Load())
	}
	if _, err := Discover(context.Background(), srv.Client(), srv.URL+"/missing"); err == nil ||
		!strings.Contains(err.Error(), "/missing/v2.0/.well-known/openid-configuration") || !strings.Contains(err.Error(), "/missing/.well-known/openid-configuration") {
		t.Errorf("both paths missing: error %v should name both URLs", err)
	}
}
