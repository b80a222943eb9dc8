package commands

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	badPolicy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(badPolicy, []byte("rules:\n  - tools: [\"x\"]\n    allow: \"claims.roles +\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"fastmcp-auth", "serve", "--no-auth"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"stateless with a stdio upstream", []string{"--stateless", "--", "sh"}, "--stateless cannot be used with a per-session stdio upstream"},
		{"shared upstream with --upstream", []string{"--shared-upstream", "--upstream", "http://127.0.0.1:1/mcp"}, "--shared-upstream is for -- COMMAND"},
		{"missing command", []string{"--", "no-such-command-xyz"}, "was not found"},
		{"both upstreams", []string{"--upstream", "http://127.0.0.1:1/mcp", "--", "sh"}, "not both"},
		{"plain http off loopback", []string{"--upstream", "http://mcp.example.com/mcp"}, "--allow-http"},
		{"not a URL", []string{"--upstream", "ftp://x/mcp"}, "--upstream must be"},
		{"header file readable by others", []string{"--upstream", "https://mcp.example.com/mcp", "--upstream-header-file", open}, "chmod 600"},
		{"policy does not compile", []string{"--policy", badPolicy, "--", "sh"}, `rule 0 (tools: "x")`},
		{"policy without upstream", []string{"--policy", badPolicy}, "needs an upstream"},
		{"bad replica id", []string{"--replica-id", "a.b", "--", "sh"}, "--replica-id"},
		{"metrics on the public port", []string{"--addr", "127.0.0.1:8123", "--metrics-addr", "127.0.0.1:8123"}, "--metrics-addr must not be the public port"},
		{"audit args without audit log", []string{"--audit-args", "--", "sh"}, "--audit-args needs --audit-log"},
		{"zero sessions", []string{"--max-sessions", "0", "--", "sh"}, "--max-sessions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append(append([]string{}, base...), tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--addr") {
				args = append(append([]string{}, base...), append([]string{"--addr", "127.0.0.1:0"}, tt.args...)...)
			}
			code := Run(context.Background(), args, &out, &errb)
			if code != ExitUsage || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 with %q", code, errb.String(), tt.want)
			}
		})
	}
}

// TestServePerUserUsageErrors: --per-user and --obo-token-env outside the one setting where
// they make sense (signed-in users, a stdio upstream with sessions, an On-Behalf-Of scope)
// are exit 2 with the fix, before anything listens or starts. Serial, as above.
func TestServePerUserUsageErrors(t *testing.T) { //nolint:paralleltest
	auth := []string{"--tenant-id", "contoso.onmicrosoft.com", "--api-client-id", "api-id", "--addr", "127.0.0.1:0"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"per-user without auth", []string{"--no-auth", "--addr", "127.0.0.1:0", "--per-user", "--", "sh"}, "--per-user keys each process by the signed-in user: it cannot be used with --no-auth"},
		{"per-user with a shared upstream", append(auth, "--per-user", "--shared-upstream", "--", "sh"), "give either --per-user (one process per user) or --shared-upstream"},
		{"per-user with --upstream", append(auth, "--per-user", "--upstream", "https://mcp.example.com/mcp"), "--per-user is for -- COMMAND"},
		{"per-user stateless", append(auth, "--per-user", "--stateless", "--", "sh"), "--per-user cannot be used with --stateless"},
		{"per-user without upstream", append(auth, "--per-user"), "--per-user needs an upstream"},
		{"token env without per-user", append(auth, "--obo-token-env", "GRAPH_TOKEN", "--", "sh"), "--obo-token-env puts a user's token in that user's own process: add --per-user"},
		{"token env without a scope", append(auth, "--per-user", "--obo-token-env", "GRAPH_TOKEN", "--", "sh"), "--obo-token-env needs --obo-scope SCOPE"},
		{"token env not a name", append(auth, "--per-user", "--obo-token-env", "GRAPH TOKEN=x", "--", "sh"), "--obo-token-env takes a variable name"},
		{"token env starting with a digit", append(auth, "--per-user", "--obo-token-env", "1TOKEN", "--", "sh"), "--obo-token-env takes a variable name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Run(context.Background(), append([]string{"fastmcp-auth", "serve"}, tt.args...), &out, &errb)
			if code != ExitUsage || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 with %q", code, errb.String(), tt.want)
			}
		})
	}
}
