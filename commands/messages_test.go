package commands

import (
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
	"github.com/fastmcp-auth/fastmcp-auth/mcpclient/mcpclienttest"
)

// TestMessagesSayWhatToDo: usage and reachability errors are one line beginning "error:"
// that names the fix, worded like their neighbours (CLI.md: "saying what to do next").
func TestMessagesSayWhatToDo(t *testing.T) {
	refused := "http://" + testenv.FreeAddr(t) + "/mcp"
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{})
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string // the end of the stderr line
	}{
		{"tools: an argument", []string{"tools", "extra-arg"}, ExitUsage,
			`error: tools takes no arguments, got "extra-arg": remove it (see fastmcp-auth tools --help)`},
		{"proxy: an argument", []string{"proxy", "--no-auth", "extra-arg"}, ExitUsage,
			`error: proxy takes no arguments, got "extra-arg": remove it (see fastmcp-auth proxy --help)`},
		{"call: --progress without a value", []string{"call", "reverse_tool", "query=x", "--progress"}, ExitUsage,
			"error: flag --progress needs a value: auto, bar, plain or none (--progress=plain)"},
		{"call: --server without a value", []string{"call", "reverse_tool", "query=x", "--server"}, ExitUsage,
			"error: flag --server needs a value: write --server=VALUE (see fastmcp-auth call --help)"},
		{"call: key:=json of the wrong type", []string{"call", "reverse_tool", "query:=123", "--server", srv.URL, "--no-auth"}, ExitUsage,
			"error: argument query:=123: reverse_tool expects a string, not an integer (write query=123 for a string)"},
		{"login --server unreachable", []string{"login", "--server", refused, "--client-id", "c"}, ExitUnreachable,
			"check --server and that the server is running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, line := runMain(testenv.Context(t, 20*time.Second), tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.wantCode, line)
			}
			if !strings.HasPrefix(line, "error: ") || strings.Count(line, "\n") != 1 {
				t.Errorf("stderr %q, want one line beginning error:", line)
			}
			// The whole line, or (where it names an address) its end.
			if got := strings.TrimSuffix(line, "\n"); !strings.HasSuffix(got, tt.want) {
				t.Errorf("stderr %q, want %q", got, tt.want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}
