package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
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
				_, _, err := captureRunError(t, tc.args)
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

// captureRunError runs the command as main does (Run) and returns its exit code, stdout and
// the "error: ..." line of stderr. Run reads os.Stdin, so it is only used for commands that
// fail before reading it.
func captureRunError(t *testing.T, args []string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), append([]string{"fastmcp-auth", "proxy"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// TestProxyFetch checks which login call serves each fetch of the proxy: the silent call
// normally, a forced refresh when the server rejected the token, and no more than one forced
// refresh per proxyForcedRefreshInterval, so that a server rejecting every token cannot turn
// each request into a refresh grant.
func TestProxyFetch(t *testing.T) {
	t.Parallel()
	type step struct {
		after time.Duration // clock advance before the fetch
		force bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
		want  []string // the login call of each fetch
	}{
		{"unforced fetches are silent", []step{{0, false}, {time.Minute, false}}, []string{"silent", "silent"}},
		{"a forced fetch refreshes", []step{{0, false}, {time.Second, true}}, []string{"silent", "refresh"}},
		{
			"a second forced fetch within the interval is silent",
			[]step{{0, true}, {proxyForcedRefreshInterval - time.Second, true}},
			[]string{"refresh", "silent"},
		},
		{
			"a forced fetch after the interval refreshes again",
			[]step{{0, true}, {proxyForcedRefreshInterval, true}, {time.Second, false}},
			[]string{"refresh", "refresh", "silent"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var calls []string
			login := func(name string) func(context.Context) (*auth.Token, error) {
				return func(context.Context) (*auth.Token, error) {
					calls = append(calls, name)
					return &auth.Token{AccessToken: name + "-token"}, nil
				}
			}
			now := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
			fetch := proxyFetch(login("silent"), login("refresh"), func() time.Time { return now })
			for i, s := range tc.steps {
				now = now.Add(s.after)
				tok, _, err := fetch(context.Background(), s.force)
				if err != nil {
					t.Fatalf("fetch %d: %v", i, err)
				}
				if want := calls[len(calls)-1] + "-token"; tok != want {
					t.Errorf("fetch %d returned %q, want %q", i, tok, want)
				}
			}
			if diff := cmp.Diff(tc.want, calls); diff != "" {
				t.Errorf("login calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProxyFetchErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		err       error
		wantIs    error
		wantLogin bool // the message says to run fastmcp-auth login
	}{
		{"not signed in", fmt.Errorf("%w: the cached sign-in of alice has expired or was revoked", auth.ErrNotSignedIn), auth.ErrNotSignedIn, true},
		{"authority unreachable", fmt.Errorf("%w: could not reach the authority", auth.ErrUnreachable), auth.ErrUnreachable, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fail := func(context.Context) (*auth.Token, error) { return nil, tc.err }
			for _, force := range []bool{false, true} {
				_, _, err := proxyFetch(fail, fail, time.Now)(context.Background(), force)
				if !errors.Is(err, tc.wantIs) {
					t.Errorf("force=%v: error %v, want %v", force, err, tc.wantIs)
				}
				if got := strings.Contains(fmt.Sprint(err), "run `fastmcp-auth login`"); got != tc.wantLogin {
					t.Errorf("force=%v: error %q: says to run fastmcp-auth login = %v, want %v", force, err, got, tc.wantLogin)
				}
			}
		})
	}
}
