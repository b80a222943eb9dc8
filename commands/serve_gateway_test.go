package commands

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestServeGatewayUsageErrors: every bad gateway setting is exit 2 naming the flag, before
// anything listens or starts. Serial: NewApp shares the commands registered with register.
func TestServeGatewayUsageErrors(t *testing.T) { //nolint:paralleltest
	dir := t.TempDir()
	open := filepath.Join(dir, "open-headers")
	if err := os.WriteFile(open, []byte("X-Api-Key: k\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(open, 0o644)
	headers := testenv.WriteFile(t, dir, "headers", "X-Api-Key: k\n")
	badPolicy := testenv.WriteFile(t, dir, "policy.yaml", "rules:\n  - tools: [\"x\"]\n    allow: \"claims.roles +\"\n")
	// serve --no-auth, on a free port unless the case names --addr.
	serve := func(args ...string) []string {
		if !slices.Contains(args, "--addr") {
			args = append([]string{"--addr", "127.0.0.1:0"}, args...)
		}
		return append([]string{"serve", "--no-auth"}, args...)
	}
	checkFailures(t, 20*time.Second, []failureCase{
		{"stateless with a stdio upstream", serve("--stateless", "--", "sh"), ExitUsage, "--stateless cannot be used with a per-session stdio upstream"},
		{"shared upstream with --upstream", serve("--shared-upstream", "--upstream", "http://127.0.0.1:1/mcp"), ExitUsage, "--shared-upstream is for -- COMMAND"},
		{"missing command", serve("--", "no-such-command-xyz"), ExitUsage, "was not found"},
		{"both upstreams", serve("--upstream", "http://127.0.0.1:1/mcp", "--", "sh"), ExitUsage, "not both"},
		{"plain http off loopback with credentials", serve("--upstream", "http://mcp.example.com/mcp", "--upstream-header-file", headers), ExitUsage, "--allow-http"},
		{"not a URL", serve("--upstream", "ftp://x/mcp"), ExitUsage, "--upstream must be"},
		{"header file readable by others", serve("--upstream", "https://mcp.example.com/mcp", "--upstream-header-file", open), ExitUsage, "chmod 600"},
		{"policy does not compile", serve("--policy", badPolicy, "--", "sh"), ExitUsage, `rule 0 (tools: "x")`},
		{"policy without upstream", serve("--policy", badPolicy), ExitUsage, "needs an upstream"},
		{"bad replica id", serve("--replica-id", "a.b", "--", "sh"), ExitUsage, "--replica-id"},
		{"metrics on the public port", serve("--addr", "127.0.0.1:8123", "--metrics-addr", "127.0.0.1:8123"), ExitUsage, "--metrics-addr must not be the public port"},
		{"audit args without audit log", serve("--audit-args", "--", "sh"), ExitUsage, "--audit-args needs --audit-log"},
		{"zero sessions", serve("--max-sessions", "0", "--", "sh"), ExitUsage, "--max-sessions"},
	})
}

// TestServePerUserUsageErrors: --per-user and --obo-token-env outside the one setting where
// they make sense (signed-in users, a stdio upstream with sessions, an On-Behalf-Of scope)
// are exit 2 with the fix, before anything listens or starts. Serial, as above.
func TestServePerUserUsageErrors(t *testing.T) { //nolint:paralleltest
	// serve with tokens required, on a free port.
	signedIn := func(args ...string) []string {
		return append([]string{"serve", "--tenant-id", "contoso.onmicrosoft.com", "--api-client-id", "api-id", "--addr", "127.0.0.1:0"}, args...)
	}
	checkFailures(t, 20*time.Second, []failureCase{
		{"per-user without auth", []string{"serve", "--no-auth", "--addr", "127.0.0.1:0", "--per-user", "--", "sh"}, ExitUsage, "--per-user keys each process by the signed-in user: it cannot be used with --no-auth"},
		{"per-user with a shared upstream", signedIn("--per-user", "--shared-upstream", "--", "sh"), ExitUsage, "give either --per-user (one process per user) or --shared-upstream"},
		{"per-user with --upstream", signedIn("--per-user", "--upstream", "https://mcp.example.com/mcp"), ExitUsage, "--per-user is for -- COMMAND"},
		{"per-user stateless", signedIn("--per-user", "--stateless", "--", "sh"), ExitUsage, "--per-user cannot be used with --stateless"},
		{"per-user without upstream", signedIn("--per-user"), ExitUsage, "--per-user needs an upstream"},
		{"token env without per-user", signedIn("--obo-token-env", "GRAPH_TOKEN", "--", "sh"), ExitUsage, "--obo-token-env puts a user's token in that user's own process: add --per-user"},
		{"token env without a scope", signedIn("--per-user", "--obo-token-env", "GRAPH_TOKEN", "--", "sh"), ExitUsage, "--obo-token-env needs --obo-scope SCOPE"},
		{"token env not a name", signedIn("--per-user", "--obo-token-env", "GRAPH TOKEN=x", "--", "sh"), ExitUsage, "--obo-token-env takes a variable name"},
		{"token env starting with a digit", signedIn("--per-user", "--obo-token-env", "1TOKEN", "--", "sh"), ExitUsage, "--obo-token-env takes a variable name"},
	})
}

// TestServeUpstreamPlainHTTP: a plain-http --upstream off loopback is refused without
// --allow-http when something worth protecting would cross the network in clear text: the
// credentials of --upstream-header-file, or signed-in users' calls. With --no-auth and no
// header file nothing is, and CLI.md says --allow-http is not needed with --no-auth.
func TestServeUpstreamPlainHTTP(t *testing.T) { //nolint:paralleltest // see TestServeGatewayUsageErrors
	headers := testenv.WriteFile(t, t.TempDir(), "headers", "X-Api-Key: k\n")
	const plain = "http://mcp.example.com/mcp"
	signedIn := []string{"--tenant-id", "contoso.onmicrosoft.com", "--api-client-id", "api-id"}
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no auth, no credentials", []string{"--no-auth", "--upstream", plain}, ""},
		{"no auth, header file", []string{"--no-auth", "--upstream", plain, "--upstream-header-file", headers},
			"--upstream: refusing to send the credentials of --upstream-header-file over plain http to mcp.example.com, which is not this machine"},
		{"no auth, header file, allowed", []string{"--no-auth", "--upstream", plain, "--upstream-header-file", headers, "--allow-http"}, ""},
		{"signed in", append([]string{"--upstream", plain}, signedIn...), "pass --allow-http (FASTMCP_AUTH_ALLOW_HTTP=true) if the network is trusted"},
		{"signed in, allowed", append([]string{"--upstream", plain, "--allow-http"}, signedIn...), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := parseFlags(t, newServeCommand(), func(c *cli.Context) (*gatewaySettings, error) {
				s, err := serveSettingsFromFlags(c)
				if err != nil {
					return nil, err
				}
				return gatewaySettingsFromFlags(c, s)
			}, tc.args...)
			if wantUsageError(t, err, tc.wantErr) {
				return
			}
			if g == nil || g.Upstream != plain {
				t.Errorf("settings %+v, want the upstream %s", g, plain)
			}
		})
	}
}
