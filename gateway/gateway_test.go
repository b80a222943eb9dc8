package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
	"github.com/fastmcp-auth/fastmcp-auth/policy"
)

func TestMain(m *testing.M) {
	if os.Getenv(fakeServerEnv) == "1" {
		runFakeServer()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type userKey struct{}

// users are the identities the tests sign in as, by the X-Test-User header.
var users = map[string]*auth.Identity{
	"alice": {ObjectID: "alice", TenantID: "t", Claims: []byte(`{"oid":"alice","tid":"t","scp":"execute","roles":["Admin"]}`)},
	"bob":   {ObjectID: "bob", TenantID: "t", Claims: []byte(`{"oid":"bob","tid":"t","scp":"execute"}`)},
}

// testIdentity is the Config.Identity of the tests: the user signedIn put in ctx, if any.
func testIdentity(ctx context.Context) *auth.Identity {
	id, _ := ctx.Value(userKey{}).(*auth.Identity)
	return id
}

// signedIn serves h with the user named by the request's X-Test-User header (one of users)
// in the request's context, as the bearer middleware would; other requests pass unchanged.
func signedIn(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := users[r.Header.Get("X-Test-User")]; u != nil {
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
		}
		h.ServeHTTP(w, r)
	})
}

type harness struct {
	t    testing.TB
	g    *Gateway
	srv  *httptest.Server
	logs *syncBuffer
}

// syncBuffer is a log the test reads while the gateway writes it.
type syncBuffer = testenv.SyncBuffer

// newHarness runs a gateway in front of the fake server (this test binary).
func newHarness(t testing.TB, mod func(*Config)) *harness {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	env := append(ScrubbedEnv(os.Environ(), []string{"PASSME"}), fakeServerEnv+"=1")
	cfg := Config{
		Dial:     Command{Path: exe, Env: env, Grace: 500 * time.Millisecond}.Dial,
		Identity: testIdentity,
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(signedIn(g))
	h := &harness{t: t, g: g, srv: srv, logs: logs}
	t.Cleanup(func() {
		srv.Close()
		g.Close()
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	return h
}

// client is a raw Streamable HTTP client.
type client struct {
	h    *harness
	user string
	sid  string
	next int
}

func (h *harness) client(user string) *client { return &client{h: h, user: user} }

// started is a client of user with its session initialized.
func (h *harness) started(user string) *client {
	h.t.Helper()
	c := h.client(user)
	c.initialize()
	return c
}

func (c *client) request(method string, body []byte) *http.Response {
	c.h.t.Helper()
	req, _ := http.NewRequest(method, c.h.srv.URL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if c.sid != "" {
		req.Header.Set(headerSessionID, c.sid)
	}
	if c.user != "" {
		req.Header.Set("X-Test-User", c.user)
		// What a real client sends; the gateway must keep it to itself.
		req.Header.Set("Authorization", "Bearer caller-token-of-"+c.user)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.h.t.Fatal(err)
	}
	return resp
}

type rpcMsg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// events reads the SSE messages of resp, calling fn on each (fn may be nil).
func events(t testing.TB, resp *http.Response, fn func(rpcMsg)) []rpcMsg {
	t.Helper()
	defer resp.Body.Close()
	var out []rpcMsg
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var m rpcMsg
		if err := json.Unmarshal([]byte(data), &m); err != nil {
			t.Errorf("bad event %q: %v", data, err)
			return out
		}
		out = append(out, m)
		if fn != nil {
			fn(m)
		}
	}
	return out
}

// initializeRequest is a client's initialize request (protocol 2025-11-25).
const initializeRequest = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

func (c *client) initialize() {
	c.h.t.Helper()
	resp := c.request(http.MethodPost, []byte(initializeRequest))
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		c.h.t.Fatalf("initialize: %d %s", resp.StatusCode, b)
	}
	c.sid = resp.Header.Get(headerSessionID)
	msgs := events(c.h.t, resp, nil)
	if c.sid == "" || len(msgs) == 0 || msgs[len(msgs)-1].Result == nil {
		c.h.t.Fatalf("initialize: session %q, messages %+v", c.sid, msgs)
	}
	resp = c.request(http.MethodPost, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		c.h.t.Fatalf("initialized: %d", resp.StatusCode)
	}
}

// call sends a request and returns every message of its stream.
func (c *client) call(method string, params any) []rpcMsg {
	c.h.t.Helper()
	c.next++
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.next, "method": method, "params": params})
	resp := c.request(http.MethodPost, body)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.h.t.Fatalf("%s: %d %s", method, resp.StatusCode, b)
	}
	return events(c.h.t, resp, nil)
}

// final is the answer among msgs.
func final(t *testing.T, msgs []rpcMsg) rpcMsg {
	t.Helper()
	if len(msgs) == 0 {
		t.Fatal("no messages")
	}
	m := msgs[len(msgs)-1]
	if m.Method != "" {
		t.Fatalf("last message is %s, not an answer", m.Method)
	}
	return m
}

func textOf(t *testing.T, m rpcMsg) string {
	t.Helper()
	var r struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if err := json.Unmarshal(m.Result, &r); err != nil || len(r.Content) == 0 {
		t.Fatalf("not a tool result: %s (error %+v)", m.Result, m.Error)
	}
	return r.Content[0].Text
}

func toolCall(name string, args map[string]any) map[string]any {
	return map[string]any{"name": name, "arguments": args}
}

func TestRelayWithProgressInOrder(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	c := h.started("alice")
	msgs := c.call("tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"message": "hi"}, "_meta": map[string]any{"progressToken": 7}})
	if len(msgs) != 4 {
		t.Fatalf("want 3 progress notifications then the result, got %+v", msgs)
	}
	for i, m := range msgs[:3] {
		if m.Method != "notifications/progress" || !strings.Contains(string(m.Params), fmt.Sprintf(`"progress":%d`, i+1)) {
			t.Errorf("message %d: %s %s", i, m.Method, m.Params)
		}
	}
	if got := textOf(t, final(t, msgs)); got != "hi" {
		t.Errorf("echo = %q", got)
	}
}

func TestScrubbedEnvironment(t *testing.T) {
	t.Setenv("PASSME", "visible")
	t.Setenv("GATEWAY_SECRET", "hidden")
	h := newHarness(t, nil)
	c := h.started("alice")
	if got := textOf(t, final(t, c.call("tools/call", toolCall("env", map[string]any{"name": "PASSME"})))); got != "visible" {
		t.Errorf("--pass-env variable: %q", got)
	}
	if got := textOf(t, final(t, c.call("tools/call", toolCall("env", map[string]any{"name": "GATEWAY_SECRET"})))); got != "" {
		t.Errorf("a variable not passed reached the child: %q", got)
	}
	if got := textOf(t, final(t, c.call("tools/call", toolCall("env", map[string]any{"name": "PATH"})))); got == "" {
		t.Error("PATH did not reach the child")
	}
}

func TestSamplingRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	c := h.started("alice")
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "call-1", "method": "tools/call", "params": toolCall("sample", nil)})
	resp := c.request(http.MethodPost, body)
	defer resp.Body.Close()
	var answered bool
	msgs := events(t, resp, func(m rpcMsg) {
		if m.Method == "sampling/createMessage" {
			// The client answers the server's request with a POST of its own.
			ans, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": map[string]any{"model": "m", "role": "assistant", "content": map[string]any{"type": "text", "text": "42"}}})
			r := c.request(http.MethodPost, ans)
			r.Body.Close()
			if r.StatusCode != http.StatusAccepted {
				t.Errorf("answer POST: %d", r.StatusCode)
			}
			answered = true
		}
	})
	if !answered {
		t.Fatalf("no sampling request reached the call's stream: %+v", msgs)
	}
	if got := textOf(t, final(t, msgs)); !strings.Contains(got, `"text":"42"`) {
		t.Errorf("result %q lacks the client's sampling answer", got)
	}
}

func TestCancellationReachesUpstream(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	c := h.started("alice")
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 99, "method": "tools/call", "params": toolCall("slow", nil)})
	resp := c.request(http.MethodPost, body)
	defer resp.Body.Close()
	r := c.request(http.MethodPost, []byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99,"reason":"user"}}`))
	r.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(h.logs.String(), "slow cancelled") {
		if time.Now().After(deadline) {
			t.Fatal("the upstream never saw the cancellation")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCrashingChildEndsTheSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	c := h.started("alice")
	m := final(t, c.call("tools/call", toolCall("crash", nil)))
	if m.Error == nil || m.Error.Code != CodeUpstreamEnded || !strings.Contains(m.Error.Message, "exit status 3") {
		t.Fatalf("crash answer: %+v", m)
	}
	resp := c.request(http.MethodPost, []byte(`{"jsonrpc":"2.0","id":5,"method":"tools/list"}`))
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("after the crash: %d, want 404", resp.StatusCode)
	}
	if !strings.Contains(h.logs.String(), "crashing on purpose") {
		t.Error("the child's stderr is not in the log")
	}
}

func TestMaxSessions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.MaxSessions = 1 })
	h.client("alice").initialize()
	c := h.client("bob")
	resp := c.request(http.MethodPost, []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}`))
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second session: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// alive reports whether process pid exists.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return signalZero(p) == nil
}

func childPID(t *testing.T, c *client) int {
	t.Helper()
	pid, err := strconv.Atoi(textOf(t, final(t, c.call("tools/call", toolCall("pid", nil)))))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: child %d still running", what, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestChildEndsWithSession(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a, b := h.started("alice"), h.started("bob")
	pa, pb := childPID(t, a), childPID(t, b)
	if pa == pb {
		t.Fatal("two sessions share one process")
	}
	resp := a.request(http.MethodDelete, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	waitGone(t, pa, "after DELETE")
	if !alive(pb) {
		t.Fatal("ending one session killed another's child")
	}
	h.g.Close()
	waitGone(t, pb, "after Close")
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	c := h.started("alice")
	pid := childPID(t, c)
	waitGone(t, pid, "after the idle timeout")
	if n := h.g.Sessions(); n != 0 {
		t.Errorf("%d sessions left", n)
	}
}

func TestSessionBoundToItsUser(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a := h.started("alice")
	thief := &client{h: h, user: "bob", sid: a.sid}
	for _, method := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		resp := thief.request(method, []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s with another user's session: %d, want 403", method, resp.StatusCode)
		}
	}
	if h.g.Sessions() != 1 {
		t.Error("the session did not survive")
	}
}

const testPolicy = `
rules:
  - tools: ["secret"]
    allow: "'Admin' in claims.roles"
  - tools: ["echo"]
    allow: "args.message != 'forbidden'"
  - tools: ["*"]
    allow: "'execute' in claims.scp"
  - prompts: ["public-*"]
    allow: "true"
  - resources: ["mem://public/*"]
    allow: "true"
`

func TestPolicyHidesAndDenies(t *testing.T) {
	t.Parallel()
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var evs []Event
	h := newHarness(t, func(c *Config) {
		c.Policy = func() *policy.Policy { return pol }
		c.OnEvent = func(e Event) { mu.Lock(); evs = append(evs, e); mu.Unlock() }
	})
	names := func(c *client, method, field, key string) []string {
		m := final(t, c.call(method, map[string]any{}))
		var r map[string][]map[string]any
		_ = json.Unmarshal(m.Result, &r)
		var out []string
		for _, it := range r[field] {
			out = append(out, fmt.Sprint(it[key]))
		}
		return out
	}
	a, b := h.started("alice"), h.started("bob")
	if got := strings.Join(names(a, "tools/list", "tools", "name"), ","); !strings.Contains(got, "secret") {
		t.Errorf("admin's tools lack secret: %s", got)
	}
	if got := strings.Join(names(b, "tools/list", "tools", "name"), ","); strings.Contains(got, "secret") || !strings.Contains(got, "echo") {
		t.Errorf("bob's tools: %s", got)
	}
	if got := strings.Join(names(b, "prompts/list", "prompts", "name"), ","); got != "public-prompt" {
		t.Errorf("prompts: %s", got)
	}
	if got := strings.Join(names(b, "resources/list", "resources", "uri"), ","); got != "mem://public/a" {
		t.Errorf("resources: %s", got)
	}
	// A denied tool and a tool the upstream lacks get the same answer.
	denied := final(t, b.call("tools/call", toolCall("secret", map[string]any{"message": "x"})))
	missing := final(t, b.call("tools/call", toolCall("no-such-tool", nil)))
	for _, m := range []rpcMsg{denied, missing} {
		if m.Error == nil || m.Error.Code != -32602 || !strings.HasPrefix(m.Error.Message, "Unknown tool: ") || m.Result != nil {
			t.Errorf("answer %+v, want -32602 Unknown tool", m)
		}
	}
	if denied.Error.Message != "Unknown tool: secret" || missing.Error.Message != "Unknown tool: no-such-tool" {
		t.Errorf("messages %q / %q", denied.Error.Message, missing.Error.Message)
	}
	// Arguments decide too.
	if m := final(t, b.call("tools/call", toolCall("echo", map[string]any{"message": "forbidden"}))); m.Error == nil {
		t.Error("args rule did not deny")
	}
	if got := textOf(t, final(t, a.call("tools/call", toolCall("secret", map[string]any{"message": "ok"})))); got != "ok" {
		t.Errorf("admin call: %q", got)
	}
	if m := final(t, b.call("prompts/get", map[string]any{"name": "private-prompt"})); m.Error == nil || m.Error.Message != "Unknown prompt: private-prompt" {
		t.Errorf("denied prompt: %+v", m)
	}
	if m := final(t, b.call("resources/read", map[string]any{"uri": "mem://private/b"})); m.Error == nil || m.Error.Code != -32002 {
		t.Errorf("denied resource: %+v", m)
	}
	mu.Lock()
	defer mu.Unlock()
	var denies, calls int
	for _, e := range evs {
		switch e.Event {
		case "deny":
			denies++
			if e.Outcome != "denied" || e.Identity == nil || e.Rule == "" {
				t.Errorf("deny event %+v", e)
			}
		case "call":
			calls++
		}
	}
	if denies != 4 || calls != 2 {
		t.Errorf("events: %d denies, %d calls; want 4 and 2", denies, calls)
	}
}

func TestStandaloneStreamGetsBacklog(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	c := h.started("alice")
	// A server message no call claims (here pushed as if the server sent it unprompted).
	s := h.g.lookup(c.sid)
	s.route([]byte(`{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`))
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set(headerSessionID, c.sid)
	req.Header.Set("X-Test-User", "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 1)
	go events(t, resp, func(m rpcMsg) { got <- m.Method })
	select {
	case m := <-got:
		if m != "notifications/tools/list_changed" {
			t.Errorf("got %s", m)
		}
	case <-ctx.Done():
		t.Fatal("the standalone stream received nothing")
	}
}

func TestDNSRebindingRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	resp := testenv.MCPRequest(t, http.MethodPost, h.srv.URL, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}`,
		map[string]string{"Host": "attacker.example:80"})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || h.g.Sessions() != 0 {
		t.Fatalf("foreign Host on loopback: %d, %d sessions", resp.StatusCode, h.g.Sessions())
	}
}
