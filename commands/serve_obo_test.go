package commands

import (
	"context"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestServeOBOUsageErrors: every bad On-Behalf-Of setting is exit 2 with the fix, before
// anything listens. Serial, as the other serve usage tests.
func TestServeOBOUsageErrors(t *testing.T) { //nolint:paralleltest
	t.Setenv(envAPIClientSecret, "")
	dir := t.TempDir()
	secret := testenv.WriteFile(t, dir, "secret", "s3cret")
	authz := testenv.WriteFile(t, dir, "headers", "Authorization: Bearer static\n")
	auth := []string{"--addr", "127.0.0.1:0", "--authority", "https://127.0.0.1:1/dev", "--api-client-id", "api"}
	up := []string{"--upstream", "http://127.0.0.1:1/mcp"}
	cat := func(parts ...[]string) []string {
		var out []string
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"scope without credentials", cat(auth, up, []string{"--obo-scope", "api://d/read"}), "--obo-scope needs the API's credential: --api-client-secret-file FILE"},
		{"credentials without scope", cat(auth, up, []string{"--api-client-secret-file", secret}), "add --obo-scope SCOPE"},
		{"two resources", cat(auth, up, []string{"--obo-scope", "api://d/read", "--obo-scope", "https://graph.microsoft.com/User.Read", "--api-client-secret-file", secret}),
			"two resources, api://d and https://graph.microsoft.com"},
		{"no upstream", cat(auth, []string{"--obo-scope", "api://d/read", "--api-client-secret-file", secret}), "--obo-scope needs an upstream"},
		{"secret and certificate", cat(auth, up, []string{"--obo-scope", "api://d/read", "--api-client-secret-file", secret, "--api-client-cert-file", secret}), "not both"},
		{"no auth", cat([]string{"--addr", "127.0.0.1:0", "--no-auth"}, up, []string{"--obo-scope", "api://d/read", "--api-client-secret-file", secret}), "--no-auth takes none"},
		{"static Authorization", cat(auth, up, []string{"--upstream-header-file", authz, "--obo-scope", "api://d/read", "--api-client-secret-file", secret}), "remove Authorization from --upstream-header-file"},
		{"stateless", cat(auth, up, []string{"--stateless", "--obo-scope", "api://d/read", "--api-client-secret-file", secret}), "drop --stateless"},
		{"scope with a space", cat(auth, up, []string{"--obo-scope", "api://d/read api://d/write", "--api-client-secret-file", secret}),
			`--obo-scope takes one scope without spaces (repeat the flag for more, or list them with commas in FASTMCP_AUTH_OBO_SCOPE), such as https://graph.microsoft.com/User.Read, not "api://d/read api://d/write"`},
		{"no permission after the resource", cat(auth, up, []string{"--obo-scope", "api://d/", "--api-client-secret-file", secret}),
			`--obo-scope takes <resource>/<permission> or <resource>/.default, such as https://graph.microsoft.com/User.Read, not "api://d/"`},
		{"no resource", cat(auth, up, []string{"--obo-scope", "/read", "--api-client-secret-file", secret}), `not "/read"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := runCLI(context.Background(), "serve", tt.args...)
			if code != ExitUsage || !strings.Contains(errOut, tt.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line with %q", code, errOut, tt.want)
			}
			if strings.Contains(errOut, "s3cret") {
				t.Error("the error shows the secret")
			}
		})
	}
}

// TestCheckOBOScopeAccepts: the forms Entra reads as one scope pass, a bare permission among
// them (Microsoft Graph's, as Entra resolves it).
func TestCheckOBOScopeAccepts(t *testing.T) {
	t.Parallel()
	for _, sc := range []string{"User.Read", "offline_access", "api://d/read", "api://d/.default", "https://graph.microsoft.com/User.Read"} {
		if err := checkOBOScope(sc); err != nil {
			t.Errorf("checkOBOScope(%q) = %v, want nil", sc, err)
		}
	}
}
