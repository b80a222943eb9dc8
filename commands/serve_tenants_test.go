package commands

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth/authtest"
)

// Tenant IDs of the tenant and cloud tests.
const (
	tenantA = "aaaaaaaa-1111-2222-3333-444444444444"
	tenantB = "bbbbbbbb-1111-2222-3333-444444444444"
)

// reverseStatus posts to /reverse with a token minted from claims and returns the status and
// the error_description.
func reverseStatus(t *testing.T, srv *runningServe, key *authtest.Key, claims map[string]any) (int, string) {
	t.Helper()
	status, _, body := post(t, srv.base+"/reverse", authtest.Mint(t, key, claims), `{"input_string":"ab"}`)
	desc, _ := body["error_description"].(string)
	return status, desc
}

// TestServeTenantsAndClouds: a GUID tenant (public or national cloud) with --jwks-uri starts
// without any discovery and accepts that tenant's v1 and v2 issuers of that cloud, and no
// other; a multi-tenant API accepts the listed tenants only, each with its own issuers.
func TestServeTenantsAndClouds(t *testing.T) {
	const api = "api-client"
	key := authtest.NewKey(t, "k1")
	jwks := authtest.NewJWKSServer(t, key)
	v2 := func(host, tid string) map[string]any {
		return authtest.EntraV2Claims(tid, "https://"+host+"/"+tid+"/v2.0", api, "execute")
	}
	v1 := func(host, tid string) map[string]any {
		c := authtest.EntraV1Claims(tid, "api://"+api, "execute")
		c["iss"] = "https://" + host + "/" + tid + "/"
		return c
	}
	type probe struct {
		name   string
		claims map[string]any
		want   int
	}
	tests := []struct {
		name   string
		args   []string
		authz  string // authorization_servers[0] of the metadata
		probes []probe
	}{
		{
			name: "public cloud GUID tenant", args: []string{"--tenant-id", tenantA},
			authz: "https://login.microsoftonline.com/" + tenantA + "/v2.0",
			probes: []probe{
				{"v2", v2("login.microsoftonline.com", tenantA), 200},
				{"v1", v1("sts.windows.net", tenantA), 200},
				{"other tenant", v2("login.microsoftonline.com", tenantB), 401},
				{"US Gov issuer", v2("login.microsoftonline.us", tenantA), 401},
			},
		},
		{
			name: "US Government", args: []string{"--authority", "https://login.microsoftonline.us/" + tenantA},
			authz: "https://login.microsoftonline.us/" + tenantA + "/v2.0",
			probes: []probe{
				{"v2", v2("login.microsoftonline.us", tenantA), 200},
				{"v1", v1("sts.windows.net", tenantA), 200},
				{"public cloud v2", v2("login.microsoftonline.com", tenantA), 401},
			},
		},
		{
			name: "China (21Vianet)", args: []string{"--authority", "https://login.partner.microsoftonline.cn/" + tenantA},
			authz: "https://login.partner.microsoftonline.cn/" + tenantA + "/v2.0",
			probes: []probe{
				{"v2", v2("login.partner.microsoftonline.cn", tenantA), 200},
				{"v1", v1("sts.chinacloudapi.cn", tenantA), 200},
				{"public v1", v1("sts.windows.net", tenantA), 401},
			},
		},
		{
			name: "multi-tenant with allowed tenants", args: []string{"--tenant-id", "organizations", "--allowed-tenant", tenantA},
			authz: "https://login.microsoftonline.com/organizations/v2.0",
			probes: []probe{
				{"allowed v2", v2("login.microsoftonline.com", tenantA), 200},
				{"allowed v1", v1("sts.windows.net", tenantA), 200},
				{"not allowed", v2("login.microsoftonline.com", tenantB), 401},
				{"allowed issuer, other tid", func() map[string]any {
					c := v2("login.microsoftonline.com", tenantA)
					c["tid"] = tenantB
					return c
				}(), 401},
			},
		},
		{
			name: "domain tenant with explicit issuer", args: []string{"--tenant-id", "contoso.onmicrosoft.com", "--issuer", "https://login.microsoftonline.com/" + tenantB + "/v2.0"},
			authz: "https://login.microsoftonline.com/" + tenantB + "/v2.0",
			probes: []probe{
				{"v2", v2("login.microsoftonline.com", tenantB), 200},
				{"v1 not listed", v1("sts.windows.net", tenantB), 401},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServe(t, append(tt.args, "--jwks-uri", jwks.URL, "--api-client-id", api)...)
			if !strings.Contains(srv.stderr.String(), `"discovery":"none"`) {
				t.Errorf("serve read a discovery document: %s", srv.stderr.String())
			}
			for _, p := range tt.probes {
				if got, desc := reverseStatus(t, srv, key, p.claims); got != p.want {
					t.Errorf("%s: status %d (%s), want %d", p.name, got, desc, p.want)
				}
			}
			prm := getJSONMap(t, srv.base+"/.well-known/oauth-protected-resource")
			if as, _ := prm["authorization_servers"].([]any); len(as) != 1 || as[0] != tt.authz {
				t.Errorf("authorization_servers %v, want [%s]", prm["authorization_servers"], tt.authz)
			}
		})
	}
}

// TestServeMultiTenantNeedsAllowedTenants: organizations or common without --allowed-tenant,
// a domain as allowed tenant, and --allowed-tenant with a single tenant are usage errors.
func TestServeMultiTenantNeedsAllowedTenants(t *testing.T) {
	// serve on a free port with a key set, and --api-client-id unless the case gives --audience.
	serve := func(args ...string) []string {
		base := []string{"serve", "--addr", "127.0.0.1:0", "--jwks-uri", "http://127.0.0.1:1/keys"}
		if !slices.Contains(args, "--audience") {
			base = append(base, "--api-client-id", "api")
		}
		return append(base, args...)
	}
	checkFailures(t, 20*time.Second, []failureCase{
		{"common without allowed tenants", serve("--tenant-id", "common"), ExitUsage, "--allowed-tenant"},
		{"domain as allowed tenant", serve("--tenant-id", "organizations", "--allowed-tenant", "contoso.com"), ExitUsage, "not a tenant ID"},
		{"allowed tenant with one tenant", serve("--tenant-id", tenantA, "--allowed-tenant", tenantB), ExitUsage, "multi-tenant API only"},
		{"allowed tenants and an issuer", serve("--tenant-id", "organizations", "--allowed-tenant", tenantB, "--issuer", "https://x/"), ExitUsage, "not both"},
		{"custom keys without api client id", serve("--tenant-id", tenantA, "--custom-signing-keys", "--audience", "x"), ExitUsage, "--custom-signing-keys needs --api-client-id"},
	})
}

// TestServeCustomSigningKeys: --custom-signing-keys asks for discovery and the key set with
// ?appid=<api-client-id>, the only place Entra publishes an app's own signing keys.
func TestServeCustomSigningKeys(t *testing.T) {
	const api = "api-client"
	key := authtest.NewKey(t, "app-key")
	var mu sync.Mutex
	var seen []string
	var authority *httptest.Server
	authority = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/dev/v2.0/.well-known/openid-configuration" && r.URL.Query().Get("appid") == api:
			_, _ = w.Write([]byte(`{"issuer":"` + authority.URL + `/dev/v2.0","jwks_uri":"` + authority.URL + `/dev/discovery/v2.0/keys"}`))
		case r.URL.Path == "/dev/discovery/v2.0/keys" && r.URL.Query().Get("appid") == api:
			_, _ = w.Write(authtest.JWKS(key))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(authority.Close)
	caFile := writeCA(t, authority)
	srv := startServe(t, "--authority", authority.URL+"/dev", "--ca-file", caFile, "--api-client-id", api, "--custom-signing-keys")
	if got, desc := reverseStatus(t, srv, key, authtest.EntraV2Claims("dev", authority.URL+"/dev/v2.0", api, "execute")); got != 200 {
		t.Errorf("token signed with the app's key: status %d (%s), want 200", got, desc)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{"/dev/v2.0/.well-known/openid-configuration?appid=" + api, "/dev/discovery/v2.0/keys?appid=" + api} {
		found := false
		for _, s := range seen {
			found = found || s == want
		}
		if !found {
			t.Errorf("no request %s among %v", want, seen)
		}
	}
}
