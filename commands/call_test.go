package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
	"github.com/fastmcp-auth/fastmcp-auth/mcpclient/mcpclienttest"
)

// These tests run the whole App and so are not parallel: urfave/cli v2 writes to its global
// HelpFlag and to the shared commands on every run, which the race detector reports.

// The bearer tokens of the test server: "good" has the execute scope, "noscope" does not.
var clientTestTokens = map[string][]string{"good": {"execute"}, "noscope": {"read"}}

func TestToolsCommand(t *testing.T) {
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{Tokens: clientTestTokens})

	code, stdout, stderr := runMain(context.Background(), "tools", "--server", srv.URL, "--token", "good")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	want := "random_number_tool  A random number between min and max.\n" +
		"reverse_tool        Reverse a string, reporting progress.\n"
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}

	code, stdout, stderr = runMain(context.Background(), "tools", "--server", srv.URL, "--token", "good", "--json")
	if code != 0 || stderr != "" {
		t.Fatalf("--json: exit %d, stderr %q", code, stderr)
	}
	var tools []struct {
		Name        string         `json:"name"`
		InputSchema map[string]any `json:"inputSchema"`
	}
	if err := json.Unmarshal([]byte(stdout), &tools); err != nil {
		t.Fatalf("stdout is not a JSON array: %v\n%s", err, stdout)
	}
	got := map[string]any{}
	for _, tool := range tools {
		got[tool.Name] = tool.InputSchema["required"]
	}
	wantReq := map[string]any{"random_number_tool": []any{"min", "max"}, "reverse_tool": []any{"query"}}
	if diff := cmp.Diff(wantReq, got); diff != "" {
		t.Errorf("tools and required inputs (-want +got):\n%s", diff)
	}
}

func TestCallExitCodes(t *testing.T) {
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{Tokens: clientTestTokens})
	open := mcpclienttest.NewServer(t, mcpclienttest.Options{})
	refused := "http://" + testenv.FreeAddr(t) + "/mcp"

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr []string // substrings; empty means stderr must be empty
	}{
		{"structured result", []string{"call", "reverse_tool", "query=héllo", "--server", srv.URL, "--token", "good"},
			0, "{\n  \"reversed_query\": \"olléh\"\n}\n", nil},
		{"integer arguments converted", []string{"call", "--server", srv.URL, "--token", "good", "random_number_tool", "min=3", "max=9"},
			0, "{\n  \"random_number\": 3\n}\n", nil},
		{"no auth against an open server", []string{"call", "reverse_tool", "query=ab", "--server", open.URL, "--no-auth"},
			0, "{\n  \"reversed_query\": \"ba\"\n}\n", nil},
		{"tool error", []string{"call", "random_number_tool", "min=5", "max=1", "--server", srv.URL, "--token", "good"},
			1, "min must not be greater than max\n", []string{"error: tool random_number_tool failed: min must not be greater than max"}},
		{"unknown tool", []string{"call", "nope_tool", "--server", srv.URL, "--token", "good"},
			2, "", []string{`error: the server has no tool "nope_tool"; it offers: random_number_tool, reverse_tool`}},
		{"unknown argument", []string{"call", "reverse_tool", "text=hi", "--server", srv.URL, "--token", "good"},
			2, "", []string{`reverse_tool has no parameter "text"; it takes query (string, required)`}},
		{"bad integer", []string{"call", "random_number_tool", "min=one", "max=2", "--server", srv.URL, "--token", "good"},
			2, "", []string{"argument min=one: random_number_tool expects an integer"}},
		{"missing tool name", []string{"call", "--server", srv.URL, "--token", "good"},
			2, "", []string{"call needs a tool name"}},
		{"unknown flag after the tool", []string{"call", "reverse_tool", "--bogus", "--server", srv.URL},
			2, "", []string{"unknown flag --bogus"}},
		{"bad --progress", []string{"call", "reverse_tool", "q=1", "--progress", "fancy", "--token", "good"},
			2, "", []string{"--progress must be auto, bar, plain or none"}},
		{"tools: bad --progress", []string{"tools", "--progress", "fancy", "--server", srv.URL, "--token", "good"},
			2, "", []string{"--progress must be auto, bar, plain or none"}},
		{"bad --server", []string{"tools", "--server", "localhost:8000", "--token", "good"},
			2, "", []string{"--server must be an http(s) URL"}},
		{"no token (401)", []string{"call", "reverse_tool", "query=x", "--server", srv.URL, "--no-auth"},
			3, "", []string{"HTTP 401", "run fastmcp-auth login"}},
		{"bad token (401)", []string{"tools", "--server", srv.URL, "--token", "bad"},
			3, "", []string{"HTTP 401 invalid_token: token expired at 2026-01-02T15:04:05Z", "run fastmcp-auth login"}},
		{"missing scope (403)", []string{"call", "reverse_tool", "query=x", "--server", srv.URL, "--token", "noscope"},
			3, "", []string{"HTTP 403 insufficient_scope", "missing scope: execute"}},
		{"connection refused", []string{"call", "reverse_tool", "query=x", "--server", refused, "--token", "good"},
			4, "", []string{"cannot reach the MCP server at " + refused, "connection refused"}},
		{"tools: connection refused", []string{"tools", "--server", refused, "--no-auth"},
			4, "", []string{"cannot reach the MCP server at " + refused}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMain(context.Background(), tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr)
			}
			if diff := cmp.Diff(tt.wantStdout, stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if len(tt.wantStderr) == 0 && stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q lacks %q", stderr, w)
				}
			}
			if code != 0 && (!strings.HasPrefix(stderr, "error: ") || strings.Count(stderr, "\n") != 1) {
				t.Errorf("stderr should be one line starting with error: %q", stderr)
			}
			for _, secret := range []string{"good", "noscope", "Bearer"} {
				if strings.Contains(stderr, secret) {
					t.Errorf("stderr leaks %q: %q", secret, stderr)
				}
			}
		})
	}
}

// TestCallFlagPlacement: flags may stand before or after the tool name and its arguments.
func TestCallFlagPlacement(t *testing.T) {
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{})
	srvFlag := "--server=" + srv.URL
	tests := []struct {
		name     string
		args     []string
		wantJSON bool
	}{
		{"all before", []string{"call", srvFlag, "--no-auth", "--json", "reverse_tool", "query=hi"}, true},
		{"all after", []string{"call", "reverse_tool", "query=hi", "--json", "--server", srv.URL, "--no-auth"}, true},
		{"between tool and arguments", []string{"call", "reverse_tool", "--no-auth", srvFlag, "query=hi"}, false},
		{"mixed with a valued flag", []string{"call", "--no-auth", "reverse_tool", "--progress", "none", "query=hi", srvFlag, "--json"}, true},
		{"-- protects a flag-like argument", []string{"call", srvFlag, "--no-auth", "reverse_tool", "--", "query=--json"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runMain(context.Background(), tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var res map[string]any
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatalf("stdout not JSON: %q", stdout)
			}
			_, isWhole := res["structuredContent"]
			if isWhole != tt.wantJSON {
				t.Errorf("--json applied = %v, want %v: %s", isWhole, tt.wantJSON, stdout)
			}
		})
	}
	// The -- case sent the argument untouched.
	_, stdout, _ := runMain(context.Background(), "call", srvFlag, "--no-auth", "reverse_tool", "--", "query=--json")
	if want := "{\n  \"reversed_query\": \"nosj--\"\n}\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
}

func TestCallJSONOutput(t *testing.T) {
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{})
	code, stdout, stderr := runMain(context.Background(), "call", "reverse_tool", "query=abc", "--json", "--server", srv.URL, "--no-auth")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"content":           []any{map[string]any{"type": "text", "text": `{"reversed_query":"cba"}`}},
		"structuredContent": map[string]any{"reversed_query": "cba"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}

	// A tool error with --json: the result still goes to stdout, exit 1.
	code, stdout, stderr = runMain(context.Background(), "call", "random_number_tool", "min=2", "max=1", "--json", "--server", srv.URL, "--no-auth")
	if code != 1 || !strings.Contains(stdout, `"isError": true`) || !strings.Contains(stderr, "min must not be greater than max") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// orderedOutput records, across stdout and stderr, which stream wrote what, in order.
type orderedOutput struct {
	mu     sync.Mutex
	events []string
}

type streamWriter struct {
	o    *orderedOutput
	name string
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line != "" {
			w.o.events = append(w.o.events, w.name+": "+line)
		}
	}
	return len(p), nil
}

// TestCallProgressOrder repeats the call 20 times: the go-sdk alone delivers the last
// progress notification after the result in a fair share of runs.
func TestCallProgressOrder(t *testing.T) {
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{})
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"plain", []string{"--progress", "plain"}, []string{
			"stderr: progress 1/5: step 1 of 5\n", "stderr: progress 2/5: step 2 of 5\n", "stderr: progress 3/5: step 3 of 5\n",
			"stderr: progress 4/5: step 4 of 5\n", "stderr: progress 5/5: step 5 of 5\n",
			"stdout: {\n", "stdout:   \"reversed_query\": \"cba\"\n", "stdout: }\n"}},
		{"json lines", []string{"--progress", "plain", "--json"}, []string{
			"stderr: {\"progress\":1,\"total\":5,\"message\":\"step 1 of 5\"}\n",
			"stderr: {\"progress\":2,\"total\":5,\"message\":\"step 2 of 5\"}\n",
			"stderr: {\"progress\":3,\"total\":5,\"message\":\"step 3 of 5\"}\n",
			"stderr: {\"progress\":4,\"total\":5,\"message\":\"step 4 of 5\"}\n",
			"stderr: {\"progress\":5,\"total\":5,\"message\":\"step 5 of 5\"}\n",
			"stdout: {\n"}},
		{"none", []string{"--progress", "none"}, []string{"stdout: {\n", "stdout:   \"reversed_query\": \"cba\"\n", "stdout: }\n"}},
		{"auto without a terminal is none", nil, []string{"stdout: {\n", "stdout:   \"reversed_query\": \"cba\"\n", "stdout: }\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i := range 20 {
				o := &orderedOutput{}
				args := append([]string{"fastmcp-auth", "call", "reverse_tool", "query=abc", "--server", srv.URL, "--no-auth"}, tt.args...)
				code := Run(context.Background(), args, streamWriter{o, "stdout"}, streamWriter{o, "stderr"})
				if code != 0 {
					t.Fatalf("run %d: exit %d: %v", i, code, o.events)
				}
				got := o.events
				if len(got) > len(tt.want) {
					got = got[:len(tt.want)] // the --json result continues beyond what is compared
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Fatalf("run %d: output order (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

func TestCallProgressBar(t *testing.T) {
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{})
	code, stdout, stderr := runMain(context.Background(), "call", "reverse_tool", "query=abc", "--progress", "bar", "--server", srv.URL, "--no-auth")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "{\n  \"reversed_query\": \"cba\"\n}\n"; stdout != want {
		t.Errorf("stdout = %q: the bar must stay on stderr", stdout)
	}
	for _, w := range []string{"100%", "5/5 step 5 of 5"} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q lacks %q", stderr, w)
		}
	}
	if !strings.HasSuffix(stderr, "\n") {
		t.Errorf("the bar's line is not ended before the result: %q", stderr)
	}
}

func TestCallArgsFromStdin(t *testing.T) {
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{})
	var out, errb bytes.Buffer
	app := NewApp(&out, &errb)
	app.Reader = strings.NewReader(`{"min": 4, "max": 4}`)
	err := app.RunContext(context.Background(), []string{"fastmcp-auth", "call", "random_number_tool", "--args", "-", "--server", srv.URL, "--no-auth"})
	if err != nil {
		t.Fatalf("exit %d: %v", ExitCode(err), err)
	}
	if want := "{\n  \"random_number\": 4\n}\n"; out.String() != want {
		t.Errorf("stdout = %q, want %q", out.String(), want)
	}
}

// TestCallInterrupted: cancelling the context during a call (Ctrl-C in main) cancels the
// call on the server and exits 130.
func TestCallInterrupted(t *testing.T) {
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{ProgressInterval: 3 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-srv.Started()
		cancel()
	}()
	start := time.Now()
	code, stdout, stderr := runMain(ctx, "call", "reverse_tool", "query=abc", "--server", srv.URL, "--no-auth")
	if code != ExitInterrupted {
		t.Errorf("exit code = %d, want 130 (stderr %q)", code, stderr)
	}
	if stdout != "" || stderr != "error: interrupted\n" {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
	select {
	case <-srv.Cancelled():
	case <-time.After(time.Second):
		t.Fatal("the server did not see the cancellation")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("interrupt took %v", d)
	}
}

// TestToolsAcceptsProgress: CLI.md lists --progress for tools as well as call, so a script (or a
// FASTMCP_AUTH_PROGRESS meant for call) that passes it to tools still gets the list.
func TestToolsAcceptsProgress(t *testing.T) {
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{Tokens: clientTestTokens})
	for _, mode := range []string{"auto", "bar", "plain", "none"} {
		code, stdout, stderr := runMain(context.Background(), "tools", "--progress", mode, "--server", srv.URL, "--token", "good")
		if code != 0 || !strings.Contains(stdout, "reverse_tool") || !strings.Contains(stdout, "random_number_tool") {
			t.Errorf("tools --progress %s: exit %d, stdout %q, stderr %q; want exit 0 and both tools", mode, code, stdout, stderr)
		}
	}
}
