//go:build unix

// Package gatewayinterop runs real outside MCP servers (@modelcontextprotocol/server-everything
// and server-filesystem, pinned in package-lock.json here) behind `fastmcp-auth serve --
// COMMAND`, driven by the official TypeScript SDK client with tokens of the development
// authority. Node and the npm packages are required under CI=true (`cd interop/gateway && npm
// ci`); elsewhere the tests skip without them.
package gatewayinterop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestMain removes the binary testenv.Binary built.
func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

const everything = "node_modules/@modelcontextprotocol/server-everything/dist/index.js"

// requireNode skips (or fails under CI) when node or the pinned npm packages are missing, and
// returns node's path.
func requireNode(t *testing.T) string {
	t.Helper()
	return testenv.NeedNode(t, "node and the pinned npm packages are needed: run `cd interop/gateway && npm ci`", everything)
}

// gateway is a running `fastmcp-auth serve -- COMMAND`.
type gateway struct {
	authority *devauthority.Authority
	url       string
	cmd       *exec.Cmd
	logs      *testenv.SyncBuffer
	marker    string // in every child's command line, to find them in /proc
}

// startGateway starts serve in front of the upstream command (its first word is node, which
// gets --title=<marker> so its processes can be found).
func startGateway(t *testing.T, flags []string, upstream ...string) *gateway {
	t.Helper()
	a := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true})
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	marker := "gwtest-" + hex.EncodeToString(rnd[:])
	if upstream[0] == "node" {
		upstream = append([]string{"node", "--title=" + marker}, upstream[1:]...)
	}
	addr := testenv.FreeAddr(t)
	args := flags
	if upstream[0] != "" { // "" for --upstream URL, given in flags
		args = append(append(slices.Clone(flags), "--"), upstream...)
	}
	g := &gateway{authority: a, url: "http://" + addr + "/mcp", marker: marker}
	// Registered first, so it runs after testenv.Serve's cleanup has stopped the gateway: no
	// child outlives the gateway, whatever the test did.
	t.Cleanup(func() {
		if g.cmd != nil {
			waitNoChildren(t, marker, g.cmd.Process.Pid, "after the gateway stopped")
		}
	})
	g.cmd, g.logs = testenv.Serve(t, a, addr, g.url, args...)
	return g
}

// children returns the pids of processes whose command line holds marker, except serve's own
// (pid self), which names the upstream command after --.
func children(marker string, self int) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && pid != self && bytes.Contains(b, []byte(marker)) {
			if st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); bytes.Contains(st, []byte(") Z ")) {
				continue // a zombie waiting for its parent's wait is not running
			}
			pids = append(pids, pid)
		}
	}
	return pids
}

func waitNoChildren(t *testing.T, marker string, self int, when string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := children(marker, self)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: upstream processes still running: %v", when, left)
			for _, pid := range left {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *gateway) token(t *testing.T, oid string, roles ...string) string {
	t.Helper()
	tok, err := g.authority.IssueAccessTokenAs(oid, []string{"execute"}, roles, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// report is what gw-client.mjs prints.
type report struct {
	Sampling, Elicitation, Roots int
	SessionID                    string `json:"sessionId"`
	Tools                        json.RawMessage
	Prompts                      json.RawMessage
	Resources                    json.RawMessage
	Cancelled                    bool
	ResourceRead                 bool
	Templates                    int
	PromptMessages               int
	AfterCancel                  string
	Call                         *struct {
		OK    bool   `json:"ok"`
		Text  string `json:"text"`
		Error string `json:"error"`
		Code  any    `json:"code"`
	}
	Fatal string
	Code  any
}

type toolOutcome struct {
	OK       bool      `json:"ok"`
	Text     string    `json:"text"`
	Error    string    `json:"error"`
	Progress []float64 `json:"progress"`
}

// clientCommand is node gw-client.mjs URL TOKEN SCENARIO [EXTRA], with the token (args[1]) moved
// into the environment (GW_TOKEN) so that it never shows in the process list.
func clientCommand(ctx context.Context, args ...string) *exec.Cmd {
	args = slices.Clone(args)
	token := ""
	if len(args) > 1 {
		token, args[1] = args[1], "env"
	}
	return testenv.Node(ctx, []string{"GW_TOKEN=" + token}, append([]string{"gw-client.mjs"}, args...)...)
}

// runClient runs gw-client.mjs; stdin, when given, keeps a "hold" client connected.
func runClient(t *testing.T, stdin io.Reader, args ...string) report {
	t.Helper()
	cmd := clientCommand(testenv.Context(t, 120*time.Second), args...)
	cmd.Stdin = stdin
	var rep report
	_, _ = testenv.RunJSON(t, cmd, &rep) // the report tells what failed
	return rep
}

func TestEverythingServerThroughTheGateway(t *testing.T) {
	requireNode(t)
	g := startGateway(t, nil, "node", everything, "stdio")
	rep := runClient(t, nil, g.url, g.token(t, "alice"), "every")
	if rep.Fatal != "" {
		t.Fatalf("client failed: %s", rep.Fatal)
	}
	var tools map[string]toolOutcome
	if err := json.Unmarshal(rep.Tools, &tools); err != nil {
		t.Fatal(err)
	}
	// Every tool the server lists answered through the gateway (simulate-research-query
	// answers that it needs the tasks API, which is the server's own reply, relayed).
	if len(tools) < 12 {
		t.Errorf("only %d tools: %v", len(tools), tools)
	}
	for name, o := range tools {
		if !o.OK && !strings.Contains(o.Error, "task") {
			t.Errorf("tool %s failed: %+v", name, o)
		}
	}
	checks := []struct {
		tool, want string
	}{
		{"echo", "Echo: hello through the gateway"},
		{"get-sum", "5"},
		{"trigger-sampling-request", "sampled by the client"},
		{"trigger-elicitation-request", "Ada"},
		{"get-roots-list", "file:///tmp/interop-root"},
	}
	for _, c := range checks {
		if !strings.Contains(tools[c.tool].Text, c.want) {
			t.Errorf("%s: %q lacks %q", c.tool, tools[c.tool].Text, c.want)
		}
	}
	if p := tools["trigger-long-running-operation"].Progress; len(p) != 3 || p[2] != 3 {
		t.Errorf("progress %v, want 1 2 3", p)
	}
	if rep.Sampling < 1 || rep.Elicitation < 1 || rep.Roots < 1 {
		t.Errorf("server-to-client requests: sampling %d elicitation %d roots %d", rep.Sampling, rep.Elicitation, rep.Roots)
	}
	if !rep.Cancelled || rep.AfterCancel != "Echo: still here" {
		t.Errorf("cancellation: cancelled=%v, then %q", rep.Cancelled, rep.AfterCancel)
	}
	var nres int
	_ = json.Unmarshal(rep.Resources, &nres)
	if nres == 0 || !rep.ResourceRead || rep.Templates == 0 {
		t.Errorf("resources %d read %v templates %d", nres, rep.ResourceRead, rep.Templates)
	}
	if rep.PromptMessages == 0 {
		t.Errorf("prompts: %s, no prompt read", rep.Prompts)
	}
	// The client ended its session (DELETE): its process is gone while the gateway runs.
	waitNoChildren(t, g.marker, g.cmd.Process.Pid, "after the session ended")
}

const policyYAML = `
rules:
  - tools: ["get-env", "trigger-*"]
    allow: "'Admin' in claims.roles"
  - tools: ["echo"]
    allow: "args.message != 'forbidden'"
  - tools: ["*"]
    allow: "'execute' in claims.scp"
  - prompts: ["simple-*"]
    allow: "true"
  - resources: ["demo://resource/static/*"]
    allow: "'Admin' in claims.roles"
`

func TestPolicyAndUserIsolation(t *testing.T) {
	requireNode(t)
	pol := testenv.WriteFile(t, t.TempDir(), "policy.yaml", policyYAML)
	g := startGateway(t, []string{"--policy", pol}, "node", everything, "stdio")
	admin, user := g.token(t, "alice", "Admin"), g.token(t, "bob")

	a := runClient(t, nil, g.url, admin, "list", "get-env")
	b := runClient(t, nil, g.url, user, "list", "get-env")
	missing := runClient(t, nil, g.url, user, "list", "no-such-tool")
	if a.Fatal != "" || b.Fatal != "" || missing.Fatal != "" {
		t.Fatalf("clients failed: %q %q %q", a.Fatal, b.Fatal, missing.Fatal)
	}
	var aTools, bTools, bPrompts []string
	_ = json.Unmarshal(a.Tools, &aTools)
	_ = json.Unmarshal(b.Tools, &bTools)
	_ = json.Unmarshal(b.Prompts, &bPrompts)
	has := func(l []string, s string) bool {
		for _, x := range l {
			if x == s {
				return true
			}
		}
		return false
	}
	if !has(aTools, "get-env") || has(bTools, "get-env") || has(bTools, "trigger-sampling-request") {
		t.Errorf("tools: admin %v, user %v", aTools, bTools)
	}
	if !has(bTools, "echo") || !has(bTools, "get-sum") {
		t.Errorf("user lost allowed tools: %v", bTools)
	}
	for _, p := range bPrompts {
		if !strings.HasPrefix(p, "simple-") {
			t.Errorf("prompt %s listed", p)
		}
	}
	if a.Call == nil || !a.Call.OK {
		t.Errorf("admin's get-env: %+v", a.Call)
	}
	// Denied and missing look the same: -32602 Unknown tool: <name>.
	if b.Call == nil || missing.Call == nil {
		t.Fatal("no call answers")
	}
	if b.Call.Error != "MCP error -32602: Unknown tool: get-env" || missing.Call.Error != "MCP error -32602: Unknown tool: no-such-tool" {
		t.Errorf("denied %q, missing %q", b.Call.Error, missing.Call.Error)
	}

	// Another user cannot use alice's session.
	sid, stop := hold(t, g.url, admin)
	defer stop()
	status, _ := postMCP(t, g.url, user, sid, `{"jsonrpc":"2.0","id":9,"method":"tools/list"}`)
	if status != http.StatusForbidden {
		t.Errorf("bob on alice's session: %d, want 403", status)
	}
}

// postMCP posts the JSON-RPC body to the MCP endpoint url as the client would, with token and
// (if not empty) the session ID, and returns the answer's status and headers (its body is
// closed: the tests that use it look at nothing else).
func postMCP(t *testing.T, url, token, sessionID, body string) (int, http.Header) {
	t.Helper()
	return requestMCP(t, http.MethodPost, url, token, sessionID, body)
}

// requestMCP is postMCP with another method (DELETE ends a session as a closing client does).
func requestMCP(t *testing.T, method, url, token, sessionID, body string) (int, http.Header) {
	t.Helper()
	header := map[string]string{"Authorization": "Bearer " + token}
	if sessionID != "" {
		header["Mcp-Session-Id"] = sessionID
	}
	resp := testenv.MCPRequest(t, method, url, body, header)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// hold connects a client that stays connected until stop; it returns its session ID.
func hold(t *testing.T, url, token string) (string, func()) {
	t.Helper()
	cmd := clientCommand(context.Background(), url, token, "hold")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	var rep report
	if err != nil || json.Unmarshal(line, &rep) != nil || rep.SessionID == "" {
		stop()
		t.Fatalf("hold client: %q %v", line, err)
	}
	return rep.SessionID, stop
}

func TestMaxSessionsThenSIGTERMLeavesNoChild(t *testing.T) {
	requireNode(t)
	g := startGateway(t, []string{"--max-sessions", "1"}, "node", everything, "stdio")
	_, stop := hold(t, g.url, g.token(t, "alice"))
	defer stop()
	if n := len(children(g.marker, g.cmd.Process.Pid)); n != 1 {
		t.Fatalf("%d upstream processes for one session", n)
	}
	// A second session is refused with 503 and Retry-After.
	status, header := postMCP(t, g.url, g.token(t, "bob"), "", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`)
	if status != http.StatusServiceUnavailable || header.Get("Retry-After") == "" {
		t.Errorf("second session: %d, Retry-After %q", status, header.Get("Retry-After"))
	}
	rep := runClient(t, nil, g.url, g.token(t, "bob"), "list")
	if rep.Fatal == "" {
		t.Error("the TypeScript client connected beyond --max-sessions")
	}
	// SIGTERM: serve ends the session's child before exiting.
	_ = g.cmd.Process.Signal(syscall.SIGTERM)
	if err := g.cmd.Wait(); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
	waitNoChildren(t, g.marker, g.cmd.Process.Pid, "after SIGTERM")
}

func TestSIGKILLOfTheGatewayTakesTheChildren(t *testing.T) {
	requireNode(t)
	g := startGateway(t, nil, "node", everything, "stdio")
	_, stop := hold(t, g.url, g.token(t, "alice"))
	defer stop()
	if n := len(children(g.marker, g.cmd.Process.Pid)); n != 1 {
		t.Fatalf("%d upstream processes for one session", n)
	}
	// No cleanup runs on SIGKILL: the parent-death signal (Linux) is what ends the child.
	_ = g.cmd.Process.Kill()
	_ = g.cmd.Wait()
	waitNoChildren(t, g.marker, g.cmd.Process.Pid, "after SIGKILL of serve")
}

func TestCrashingChild(t *testing.T) {
	requireNode(t)
	g := startGateway(t, nil, "node", "crash-server.mjs")
	rep := runClient(t, nil, g.url, g.token(t, "alice"), "list", "crash")
	if rep.Call == nil || !strings.Contains(rep.Call.Error, "the upstream MCP server exited (exit status 3)") {
		t.Fatalf("crash answer: %+v (fatal %q)", rep.Call, rep.Fatal)
	}
	if !strings.Contains(g.logs.String(), "crash-server: exiting on purpose") {
		t.Error("the child's stderr is not in serve's log")
	}
}

func TestFilesystemServer(t *testing.T) {
	requireNode(t)
	dir := t.TempDir()
	testenv.WriteFile(t, dir, "hello.txt", "hello from disk")
	g := startGateway(t, nil, "node", "node_modules/@modelcontextprotocol/server-filesystem/dist/index.js", dir)
	rep := runClient(t, nil, g.url, g.token(t, "alice"), "list", "list_allowed_directories")
	if rep.Fatal != "" || rep.Call == nil || !strings.Contains(rep.Call.Text, dir) {
		t.Fatalf("filesystem server: %+v %q", rep.Call, rep.Fatal)
	}
	var tools []string
	_ = json.Unmarshal(rep.Tools, &tools)
	if !strings.Contains(strings.Join(tools, ","), "read_text_file") {
		t.Errorf("tools %v", tools)
	}
}

// startEverythingHTTP runs server-everything over Streamable HTTP on a free loopback port,
// waits until it listens, kills it at cleanup, and returns its MCP endpoint URL.
func startEverythingHTTP(t *testing.T) string {
	t.Helper()
	_, port, _ := strings.Cut(testenv.FreeAddr(t), ":")
	up := exec.Command("node", everything, "streamableHttp")
	up.Env = append(os.Environ(), "PORT="+port)
	upLogs := &testenv.SyncBuffer{}
	up.Stdout, up.Stderr = upLogs, upLogs
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = up.Process.Kill()
		_ = up.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(upLogs.String(), "listening on port") {
		if time.Now().After(deadline) {
			t.Fatalf("server-everything did not start:\n%s", upLogs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "http://127.0.0.1:" + port + "/mcp"
}

func TestEverythingServerOverStreamableHTTP(t *testing.T) {
	requireNode(t)
	upstream := startEverythingHTTP(t)
	g := startGateway(t, []string{"--upstream", upstream}, "")
	rep := runClient(t, nil, g.url, g.token(t, "alice"), "every")
	if rep.Fatal != "" {
		t.Fatalf("client failed: %s", rep.Fatal)
	}
	var tools map[string]toolOutcome
	_ = json.Unmarshal(rep.Tools, &tools)
	if !strings.Contains(tools["echo"].Text, "hello through the gateway") || len(tools["trigger-long-running-operation"].Progress) != 3 {
		t.Errorf("echo %q, progress %v", tools["echo"].Text, tools["trigger-long-running-operation"].Progress)
	}
	if rep.Sampling < 1 || rep.Elicitation < 1 || rep.Roots < 1 || !rep.Cancelled || rep.AfterCancel != "Echo: still here" {
		t.Errorf("report %+v", rep)
	}
	// Each client session has its own upstream session: the gateway ended it with DELETE.
	if !strings.Contains(g.logs.String(), "session closed by the client") {
		t.Error("the session was not closed")
	}
}

func TestPolicyReloadOnSIGHUP(t *testing.T) {
	requireNode(t)
	dir := t.TempDir()
	write := func(s string) string { return testenv.WriteFile(t, dir, "policy.yaml", s) }
	pol := write("rules:\n  - tools: [\"echo\"]\n    allow: \"true\"\n")
	g := startGateway(t, []string{"--policy", pol}, "node", everything, "stdio")
	tok := g.token(t, "alice")
	tools := func() string {
		rep := runClient(t, nil, g.url, tok, "list")
		var names []string
		_ = json.Unmarshal(rep.Tools, &names)
		return strings.Join(names, ",")
	}
	if got := tools(); got != "echo" {
		t.Fatalf("first policy: tools %q", got)
	}
	hup := func(wantLog string) {
		t.Helper()
		_ = g.cmd.Process.Signal(syscall.SIGHUP)
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(g.logs.String(), wantLog) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log after SIGHUP", wantLog)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	write("rules:\n  - tools: [\"get-sum\"]\n    allow: \"true\"\n")
	hup("policy reloaded")
	if got := tools(); got != "get-sum" {
		t.Fatalf("reloaded policy: tools %q", got)
	}
	// A policy that does not compile is refused, naming the rule; the one in force stays.
	write("rules:\n  - tools: [\"echo\"]\n    allow: \"claims.roles +\"\n")
	hup("policy not reloaded")
	if !strings.Contains(g.logs.String(), `rule 0 (tools: \"echo\")`) {
		t.Error("the reload error does not name the rule")
	}
	if got := tools(); got != "get-sum" {
		t.Fatalf("after a bad reload: tools %q", got)
	}
}

func TestSharedUpstreamOneProcess(t *testing.T) {
	requireNode(t)
	g := startGateway(t, []string{"--shared-upstream"}, "node", everything, "stdio")
	_, stop := hold(t, g.url, g.token(t, "alice"))
	defer stop()
	rep := runClient(t, nil, g.url, g.token(t, "bob"), "every")
	if rep.Fatal != "" {
		t.Fatalf("second session: %s", rep.Fatal)
	}
	var tools map[string]toolOutcome
	_ = json.Unmarshal(rep.Tools, &tools)
	if !strings.Contains(tools["echo"].Text, "hello through the gateway") || len(tools["trigger-long-running-operation"].Progress) != 3 ||
		!strings.Contains(tools["trigger-sampling-request"].Text, "sampled by the client") || !rep.Cancelled {
		t.Errorf("through the shared process: echo %q progress %v sampling %q cancelled %v", tools["echo"].Text,
			tools["trigger-long-running-operation"].Progress, tools["trigger-sampling-request"].Text, rep.Cancelled)
	}
	if n := len(children(g.marker, g.cmd.Process.Pid)); n != 1 {
		t.Errorf("%d upstream processes with --shared-upstream, want 1", n)
	}
}
