package commands

import (
	"context"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestClientWithoutSignInSettingsIsNotSignedIn: tools and call with no token, no sign-in
// settings and no terminal exit 3 with CLI.md's message, naming the missing setting.
func TestClientWithoutSignInSettingsIsNotSignedIn(t *testing.T) {
	t.Chdir(t.TempDir()) // no .env
	unsetForTest(t, "FASTMCP_AUTH_CLIENT_ID", "FASTMCP_AUTH_TENANT_ID", "FASTMCP_AUTH_AUTHORITY",
		"FASTMCP_AUTH_TOKEN", "FASTMCP_AUTH_API_CLIENT_ID", "FASTMCP_AUTH_ENV_FILE", "FASTMCP_AUTH_NO_AUTH")
	server := "http://" + testenv.FreeAddr(t) + "/mcp"
	for _, args := range [][]string{{"tools"}, {"call", "reverse_tool", "query=hi"}} {
		code, out, msg := runMain(context.Background(), append(args, "--server", server)...)
		if code != ExitAuth {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, ExitAuth, msg)
		}
		if !strings.HasPrefix(msg, "error: not signed in: run fastmcp-auth login") || !strings.Contains(msg, "--client-id") {
			t.Errorf("%v: stderr %q", args, msg)
		}
		if out != "" {
			t.Errorf("%v: stdout %q", args, out)
		}
	}
}
