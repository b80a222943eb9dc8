package auth

import (
	"context"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/auth/authtest"
)

func TestScopeForms(t *testing.T) {
	t.Parallel()
	const uri = "api://11111111-2222-3333-4444-555555555555"
	if got := AppIDURI("abc", ""); got != "api://abc" {
		t.Errorf("AppIDURI default = %q", got)
	}
	if got := AppIDURI("abc", "https://mcp.example.com/"); got != "https://mcp.example.com" {
		t.Errorf("AppIDURI explicit = %q", got)
	}
	if got := FullScope(uri, "execute"); got != uri+"/execute" {
		t.Errorf("FullScope = %q", got)
	}
	if got := FullScope(uri, "api://other/read"); got != "api://other/read" {
		t.Errorf("FullScope kept a full scope as %q", got)
	}
	for _, tt := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"execute", "execute", true},
		{uri + "/execute", "execute", true},
		{"API://11111111-2222-3333-4444-555555555555/read", "read", true},
		{"api://other/execute", "", false},
		{uri + "/", "", false},
		{uri + "/a/b", "", false},
		{"", "", false},
	} {
		got, ok := ShortScope(uri, tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ShortScope(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	for _, bad := range []string{"execute", "api://x?y", "api://x#y", "https://a b", "api://x,y"} {
		if CheckAppIDURI(bad) == nil {
			t.Errorf("CheckAppIDURI(%q) accepted it", bad)
		}
	}
	for _, good := range []string{"api://x", "https://mcp.example.com/mcp", "urn:contoso:api"} {
		if err := CheckAppIDURI(good); err != nil {
			t.Errorf("CheckAppIDURI(%q): %v", good, err)
		}
	}
}

// TestAllowedTenantIssuers: a multi-tenant verifier accepts a listed tenant's v1 and v2 issuers
// only with that tenant's own tid, and refuses other tenants and domain names.
func TestAllowedTenantIssuers(t *testing.T) {
	t.Parallel()
	const a, b = "aaaaaaaa-0000-0000-0000-000000000001", "bbbbbbbb-0000-0000-0000-000000000002"
	iss, tenantOf, err := AllowedTenantIssuers("https://login.microsoftonline.com/organizations", []string{a})
	if err != nil || len(iss) != 2 || tenantOf["https://sts.windows.net/"+a+"/"] != a {
		t.Fatalf("issuers %v, map %v, err %v", iss, tenantOf, err)
	}
	if _, _, err := AllowedTenantIssuers("https://login.microsoftonline.com/organizations", []string{"contoso.com"}); err == nil {
		t.Error("a domain was accepted as an allowed tenant")
	}
	f := newFixture(t)
	v := f.verifier(t, func(c *VerifierConfig) { c.Issuers, c.IssuerTenants = iss, tenantOf })
	now := f.clock.Now()
	for _, tc := range []struct {
		name   string
		claims map[string]any
		ok     bool
	}{
		{"v2 of the allowed tenant", with(claimsAt(now, "execute"), "iss", "https://login.microsoftonline.com/"+a+"/v2.0", "tid", a), true},
		{"v1 of the allowed tenant", with(claimsAt(now, "execute"), "iss", "https://sts.windows.net/"+a+"/", "tid", a), true},
		{"allowed issuer, other tid", with(claimsAt(now, "execute"), "iss", "https://login.microsoftonline.com/"+a+"/v2.0", "tid", b), false},
		{"other tenant", with(claimsAt(now, "execute"), "iss", "https://login.microsoftonline.com/"+b+"/v2.0", "tid", b), false},
	} {
		_, err := v.Verify(context.Background(), authtest.Mint(t, f.k1, tc.claims))
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
