package commands

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runProxyCLI runs `fastmcp-auth proxy args...` with stdin as given and returns the exit code
// and both outputs. (The relay itself is tested end to end in package mcpproxy, through the
// built binary.)
func runProxyCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("FASTMCP_AUTH_ENV_FILE", "/dev/null")
	var out, errb bytes.Buffer
	app := NewApp(&out, &errb)
	app.Reader = strings.NewReader(stdin)
	err := app.RunContext(context.Background(), append([]string{"fastmcp-auth", "proxy"}, args...))
	return ExitCode(err), out.String(), errb.String()
}

func TestProxyCommand(t *testing.T) {
	logFile := filepath.Join(t.TempDir(), "proxy.log")
	for _, tc := range []struct {
		name       string
		args       []string
		wantCode   int
		wantErrIn  string
		wantLogIn  string // in --log-file
		wantStdout string
	}{
		{name: "bad --server", args: []string{"--server", "localhost:8000", "--no-auth"}, wantCode: ExitUsage, wantErrIn: "--server must be an http(s) URL"},
		{name: "an argument", args: []string{"--no-auth", "extra"}, wantCode: ExitUsage, wantErrIn: "proxy takes no arguments"},
		{name: "no login settings", args: []string{"--server", "http://127.0.0.1:9/mcp"}, wantCode: ExitUsage, wantErrIn: "--client-id is required"},
		{
			name:     "stdin closed at once: exit 0, logs in the file, nothing on stdout",
			args:     []string{"--server", "http://127.0.0.1:9/mcp", "--token", "tok-cli-SECRET", "--log-file", logFile},
			wantCode: ExitOK, wantLogIn: "proxying stdio to the MCP server",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runProxyCLI(t, "", tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d; stderr %q", code, tc.wantCode, stderr)
			}
			if stdout != tc.wantStdout {
				t.Errorf("stdout = %q, want %q", stdout, tc.wantStdout)
			}
			if tc.wantErrIn != "" {
				// The App returns the error; Run would print it.
				_, _, err := runMain(context.Background(), append([]string{"proxy"}, tc.args...)...)
				if !strings.Contains(err, tc.wantErrIn) {
					t.Errorf("error %q does not contain %q", err, tc.wantErrIn)
				}
			}
			if tc.wantLogIn != "" {
				b, err := os.ReadFile(logFile)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(b), tc.wantLogIn) {
					t.Errorf("log file %q does not contain %q", b, tc.wantLogIn)
				}
				if strings.Contains(string(b)+stderr, "tok-cli-SECRET") {
					t.Errorf("the token appears in the logs")
				}
				if stderr != "" {
					t.Errorf("stderr = %q with --log-file, want nothing", stderr)
				}
				fi, err := os.Stat(logFile)
				if err != nil {
					t.Fatal(err)
				}
				if perm := fi.Mode().Perm(); perm != 0o600 {
					t.Errorf("log file mode = %o, want 600", perm)
				}
			}
		})
	}
}
