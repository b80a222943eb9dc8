package reliability

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
	"github.com/fastmcp-auth/fastmcp-auth/mcpserver"
)

// The headers of a well-formed MCP POST.
const (
	initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"hostile","version":"1"}}}`
	callBody = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"abc"}}}`
)

// rawRequest sends one request and returns the status, the session header and up to 4 KiB
// of the body.
func rawRequest(t *testing.T, method, url, body string, header map[string]string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(testenv.NewMCPRequest(ctx, t, method, url, body, header))
	if err != nil {
		return 0, "", err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), string(b)
}

// startSlowloris opens n connections to addr that send the start of a request and then one
// header line per second, and reports, for each, how long the server kept it open.
func startSlowloris(t *testing.T, addr string, n int) <-chan []time.Duration {
	t.Helper()
	out := make(chan []time.Duration, 1)
	results := make(chan time.Duration, n)
	for i := 0; i < n; i++ {
		go func() {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				results <- -1
				return
			}
			defer c.Close()
			start := time.Now()
			_ = c.SetDeadline(start.Add(30 * time.Second))
			_, _ = fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: %s\r\n", addr)
			closed := make(chan struct{})
			go func() {
				// The server's answer (408 or nothing) then EOF marks the close.
				_, _ = io.Copy(io.Discard, bufio.NewReader(c))
				close(closed)
			}()
			for k := 0; ; k++ {
				select {
				case <-closed:
					results <- time.Since(start)
					return
				case <-time.After(time.Second):
				}
				if _, err := fmt.Fprintf(c, "X-Slow-%d: x\r\n", k); err != nil {
					<-closed
					results <- time.Since(start)
					return
				}
			}
		}()
	}
	go func() {
		var all []time.Duration
		for i := 0; i < n; i++ {
			all = append(all, <-results)
		}
		out <- all
	}()
	return out
}

// TestHostileInput sends what a hostile or broken client would to a server run by
// mcpserver.ListenAndServe (the real http.Server settings) in this process: each request
// must get the right status, the server must keep serving valid calls, and no server
// goroutine may be left behind. Meanwhile, slowloris connections trickle headers to the real
// binary, which must close them at its 10 s ReadHeaderTimeout while still serving others.
func TestHostileInput(t *testing.T) {
	fx := newFixture(t)

	// Slowloris against the binary, in the background (the only slow part).
	bin := startServe(t, fx.serveArgs()...)
	slow := startSlowloris(t, bin.addr, 20)

	v, err := auth.NewVerifier(context.Background(), auth.VerifierConfig{
		JWKSURI: fx.jwks.URL, Issuers: []string{fxIssuer}, Audiences: []string{fxAudience}, ClockSkew: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	h, err := mcpserver.Handler(mcpserver.Config{Verifier: v.Verify, RequiredScopes: []string{"execute"}, PublicURL: base + "/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- mcpserver.ListenAndServe(ctx, h, mcpserver.ServeConfig{Listener: ln}, nil) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	}()
	url := base + "/mcp"
	alice, bob := fx.mint(t, fx.key, "alice"), fx.mint(t, fx.key, "bob")
	auth := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	// A warm-up session, so that lazily started goroutines are in the baseline.
	if code, _, body := rawRequest(t, "POST", url, initBody, auth(alice)); code != 200 {
		t.Fatalf("initialize: %d %s", code, body)
	}
	http.DefaultClient.CloseIdleConnections()
	g0, _ := waitGoroutines(0, 500*time.Millisecond)

	_, aliceSession, _ := rawRequest(t, "POST", url, initBody, auth(alice))
	if aliceSession == "" {
		t.Fatal("no session ID from initialize")
	}
	bigBody := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"` + strings.Repeat("a", 2<<20) + `"}}}`
	tests := []struct {
		name       string
		method     string
		body       string
		header     map[string]string
		wantStatus int
		wantBody   string
	}{
		{"no token", "POST", initBody, nil, 401, ""},
		{"oversized header (100 KiB)", "POST", initBody, with(auth(alice), "X-Junk", strings.Repeat("j", 100<<10)), 431, ""},
		{"oversized token (20 KiB)", "POST", initBody, auth(strings.Repeat("e", 20<<10)), 401, ""},
		{"garbage token", "POST", initBody, auth("not.a.jwt"), 401, ""},
		{"oversized body (2 MiB)", "POST", bigBody, auth(alice), 413, ""},
		{"malformed JSON", "POST", `{"jsonrpc":"2.0","id":1,"method":`, auth(alice), 400, ""},
		{"not JSON-RPC", "POST", `[1,2,3]`, auth(alice), 400, ""},
		{"empty body", "POST", ``, auth(alice), 400, ""},
		// The SDK answers a call that skips initialize with a JSON-RPC error (no session is
		// kept: the goroutine count below would see it).
		{"call without a session", "POST", callBody, auth(alice), 200, "invalid during session initialization"},
		{"unknown session", "POST", callBody, with(auth(alice), "Mcp-Session-Id", "no-such-session"), 404, ""},
		{"another subject's session", "POST", callBody, with(auth(bob), "Mcp-Session-Id", aliceSession), 403, "mismatch"},
		{"another subject's session (GET stream)", "GET", "", with(auth(bob), "Mcp-Session-Id", aliceSession, "Accept", "text/event-stream"), 403, ""},
		{"another subject's session (DELETE)", "DELETE", "", with(auth(bob), "Mcp-Session-Id", aliceSession), 403, ""},
		{"forged Origin", "POST", initBody, with(auth(alice), "Origin", "https://evil.example"), 403, "forbidden_origin"},
		{"Origin null", "POST", initBody, with(auth(alice), "Origin", "null"), 403, ""},
		{"DNS rebinding Host", "POST", initBody, with(auth(alice), "Host", "evil.example:80"), 403, ""},
		{"wrong content type", "POST", initBody, with(auth(alice), "Content-Type", "text/plain"), 415, ""},
		{"unsupported method", "PUT", initBody, auth(alice), 405, ""},
		{"owner's call still works", "POST", callBody, with(auth(alice), "Mcp-Session-Id", aliceSession), 200, "reversed_query"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := rawRequest(t, tc.method, url, tc.body, tc.header)
			report(t, "hostile", map[string]any{"case": tc.name, "status": code})
			if code != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Errorf("status %d, body %.200q; want %d with %q", code, body, tc.wantStatus, tc.wantBody)
			}
		})
	}
	// The session's owner closes it; then nothing of these requests may remain.
	rawRequest(t, "DELETE", url, "", with(auth(alice), "Mcp-Session-Id", aliceSession))
	http.DefaultClient.CloseIdleConnections()
	g1, stacks := waitGoroutines(g0, 3*time.Second)
	report(t, "hostile-goroutines", map[string]any{"before": g0, "after": g1})
	if g1 > g0 {
		t.Errorf("server goroutines: %d before the hostile requests, %d after:\n%s", g0, g1, stacks)
	}

	// The binary keeps serving while the slowloris connections hang on.
	if code, _, body := rawRequest(t, "POST", bin.url, initBody, auth(alice)); code != 200 {
		t.Errorf("binary under slowloris: initialize got %d %.200s", code, body)
	}
	durations := <-slow
	var maxOpen time.Duration
	for _, d := range durations {
		maxOpen = max(maxOpen, d)
		if d < 9*time.Second || d > 12*time.Second {
			t.Errorf("a slowloris connection stayed open %v; want it closed at the 10 s ReadHeaderTimeout", d)
		}
	}
	report(t, "slowloris", map[string]any{"connections": len(durations), "longest_open_s": round(maxOpen.Seconds())})
}
