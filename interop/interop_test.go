// Package interop runs real third-party MCP clients (the official TypeScript SDK, from the
// pinned packages in this folder) against a real `fastmcp-auth serve` process validating tokens
// of the development authority. Node and the npm packages are required under CI=true; elsewhere
// the tests skip without them.
package interop

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestMain removes the binary testenv.Binary built.
func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// requireNode skips (or fails under CI) when node or the pinned npm packages are missing.
func requireNode(t *testing.T) {
	t.Helper()
	testenv.NeedNode(t, "node and the pinned npm packages are needed: run `cd interop && npm ci`",
		"node_modules/@modelcontextprotocol/sdk/package.json")
}

type fixture struct {
	authority *devauthority.Authority
	serverURL string
}

// token issues an hour-long access token for the client ts-interop with scopes.
func (f *fixture) token(t *testing.T, scopes ...string) string {
	t.Helper()
	tok, err := f.authority.IssueAccessToken("ts-interop", scopes, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// startFixture starts the development authority in-process and `fastmcp-auth serve` as a process.
func startFixture(t *testing.T) *fixture { return startFixtureWith(t, false) }

// startFixtureWith is startFixture; with urlAsAppID the API's identifier URI (authority and
// serve alike) is the server's public URL, the set-up for hosts that send it as resource.
func startFixtureWith(t *testing.T, urlAsAppID bool) *fixture {
	t.Helper()
	addr := testenv.FreeAddr(t)
	cfg := devauthority.Config{AutoApprove: true}
	extra := []string{}
	if urlAsAppID {
		cfg.AppIDURI = "http://" + addr + "/mcp"
		extra = append(extra, "--app-id-uri", cfg.AppIDURI)
	}
	f := &fixture{authority: testenv.DevAuthority(t, cfg), serverURL: "http://" + addr + "/mcp"}
	testenv.Serve(t, f.authority, addr, f.serverURL, append([]string{"--progress-interval", "50ms"}, extra...)...)
	return f
}

// tsReport is what interop/ts-client.mjs prints.
type tsReport struct {
	Tools    []string `json:"tools"`
	Progress []struct {
		Progress float64 `json:"progress"`
		Total    float64 `json:"total"`
		Message  string  `json:"message"`
	} `json:"progress"`
	Result *struct {
		StructuredContent map[string]any `json:"structuredContent"`
		IsError           bool           `json:"isError"`
	} `json:"result"`
	Error *struct {
		Message string `json:"message"`
		Code    any    `json:"code"`
	} `json:"error"`
}

func runTS(t *testing.T, token string, args ...string) tsReport {
	t.Helper()
	var rep tsReport
	cmd := testenv.Node(testenv.Context(t, 60*time.Second), []string{"MCP_TOKEN=" + token}, append([]string{"ts-client.mjs"}, args...)...)
	if stderr, err := testenv.RunJSON(t, cmd, &rep); err != nil {
		t.Fatalf("ts-client: %v\n%s", err, stderr)
	}
	return rep
}

func TestTypeScriptClientAgainstServe(t *testing.T) {
	requireNode(t)
	f := startFixture(t)
	good, noScope := f.token(t, "execute"), f.token(t, "read")

	t.Run("list and call with progress", func(t *testing.T) {
		checkCallReport(t, runTS(t, good, "http", f.serverURL, "call"))
	})
	for _, tc := range []struct {
		name, token string
		code        float64
		contains    string
	}{
		{"no token is 401", "", 401, ""},
		{"bad token is 401", good[:len(good)-4] + "AAAA", 401, ""},
		{"missing scope is 403", noScope, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := runTS(t, tc.token, "http", f.serverURL, "list")
			if rep.Error == nil {
				t.Fatalf("no error, tools %v", rep.Tools)
			}
			if code, _ := rep.Error.Code.(float64); code != tc.code {
				t.Errorf("error code = %v (%s), want %v", rep.Error.Code, rep.Error.Message, tc.code)
			}
			if strings.Contains(rep.Error.Message, good) {
				t.Error("error message echoes the token")
			}
		})
	}
}

// checkCallReport checks the report of the client's "call" mode: the two tools listed, the
// five progress steps of reverse_tool (each with total 5 and a message) in order, and the
// reversed query as the structured result.
func checkCallReport(t *testing.T, rep tsReport) {
	t.Helper()
	if rep.Error != nil {
		t.Fatalf("error: %+v", rep.Error)
	}
	if diff := cmp.Diff([]string{"random_number_tool", "reverse_tool"}, rep.Tools); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
	var got []float64
	for _, p := range rep.Progress {
		got = append(got, p.Progress)
		if p.Total != 5 || p.Message == "" {
			t.Errorf("progress %+v: want total 5 and a message", p)
		}
	}
	if diff := cmp.Diff([]float64{1, 2, 3, 4, 5}, got); diff != "" {
		t.Errorf("progress (-want +got):\n%s", diff)
	}
	if rep.Result == nil || rep.Result.IsError || rep.Result.StructuredContent["reversed_query"] != "edon morf olleh" {
		t.Errorf("result = %+v, want reversed_query \"edon morf olleh\"", rep.Result)
	}
}

// TestTypeScriptStdioClientThroughProxy drives a real `fastmcp-auth proxy` process with the
// TypeScript SDK's stdio client, relaying to a real `serve` process: what Claude Desktop, VS
// Code and Cursor do.
func TestTypeScriptStdioClientThroughProxy(t *testing.T) {
	requireNode(t)
	f := startFixture(t)
	good := f.token(t, "execute")
	proxy := []string{"--", testenv.Binary(t), "proxy", "--server", f.serverURL}

	t.Run("list and call with progress", func(t *testing.T) {
		t.Setenv("FASTMCP_AUTH_TOKEN", good)
		checkCallReport(t, runTS(t, "", append([]string{"stdio", "call"}, proxy...)...))
	})
	t.Run("a rejected token is a JSON-RPC error telling to log in", func(t *testing.T) {
		t.Setenv("FASTMCP_AUTH_TOKEN", good[:len(good)-4]+"AAAA")
		rep := runTS(t, "", append([]string{"stdio", "list"}, proxy...)...)
		if rep.Error == nil {
			t.Fatalf("no error, tools %v", rep.Tools)
		}
		if !strings.Contains(rep.Error.Message, "fastmcp-auth login") || strings.Contains(rep.Error.Message, good[:40]) {
			t.Errorf("error message %q: want the login hint and no token", rep.Error.Message)
		}
	})
}
