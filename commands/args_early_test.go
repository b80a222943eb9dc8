package commands

import (
	"context"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestCallUsageErrorsBeforeConnecting: malformed arguments are exit 2 even when the server is
// down, because they are checked before any connection (which would be exit 4).
func TestCallUsageErrorsBeforeConnecting(t *testing.T) {
	server := "http://" + testenv.FreeAddr(t) + "/mcp" // nothing listens there
	for _, tc := range []struct {
		name     string
		args     []string
		contains string
	}{
		{"bad raw JSON", []string{"reverse_tool", "q:={bad"}, "is not valid JSON"},
		{"--args not an object", []string{"reverse_tool", "--args", "[1]"}, "--args must be a JSON object"},
		{"--args not JSON", []string{"reverse_tool", "--args", "{"}, "--args must be a JSON object"},
		{"no equals sign", []string{"reverse_tool", "query"}, "write key=value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"call"}, tc.args...)
			code, _, errb := runMain(context.Background(), append(args, "--no-auth", "--server", server)...)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d (stderr %q)", code, ExitUsage, errb)
			}
			if !strings.Contains(errb, tc.contains) {
				t.Errorf("stderr %q lacks %q", errb, tc.contains)
			}
		})
	}
}
