package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func wantProgress(token any) []mcp.ProgressNotificationParams {
	var want []mcp.ProgressNotificationParams
	for i := 1; i <= ProgressSteps; i++ {
		want = append(want, mcp.ProgressNotificationParams{
			ProgressToken: token, Progress: float64(i), Total: ProgressSteps,
			Message: fmt.Sprintf("reversing: step %d of 5", i),
		})
	}
	return want
}

// structured decodes a result's structured content into a map.
func structured(t *testing.T, res *mcp.CallToolResult) map[string]any {
	t.Helper()
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("structured content %s: %v", raw, err)
	}
	return m
}

func textOf(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func TestEndToEndProgress(t *testing.T) {
	t.Parallel()
	for _, stateless := range []bool{false, true} {
		for _, token := range []any{"tok-1", float64(7)} {
			t.Run(fmt.Sprintf("stateless=%v token=%T", stateless, token), func(t *testing.T) {
				t.Parallel()
				ts := newTestServer(t, Config{Stateless: stateless, ProgressInterval: 10 * time.Millisecond})
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				progress := newProgressLog()
				cs := connect(t, ctx, ts.mcpURL, tokAlice, progress)

				var names []string
				for tool, err := range cs.Tools(ctx, nil) {
					if err != nil {
						t.Fatal(err)
					}
					names = append(names, tool.Name)
				}
				slices.Sort(names)
				if diff := cmp.Diff([]string{RandomToolName, ReverseToolName}, names); diff != "" {
					t.Errorf("tools (-want +got):\n%s", diff)
				}

				res, err := cs.CallTool(ctx, &mcp.CallToolParams{
					Name: ReverseToolName, Arguments: map[string]any{"query": "hello 👍🏽"},
					Meta: mcp.Meta{"progressToken": token},
				})
				if err != nil {
					t.Fatal(err)
				}
				if res.IsError {
					t.Fatalf("tool error: %s", textOf(res))
				}
				if diff := cmp.Diff(map[string]any{"reversed_query": "👍🏽 olleh"}, structured(t, res)); diff != "" {
					t.Errorf("result (-want +got):\n%s", diff)
				}
				progress.waitFor(ProgressSteps, 2*time.Second)
				time.Sleep(50 * time.Millisecond) // a sixth notification would arrive by now
				got := progress.snapshot()
				if diff := cmp.Diff(wantProgress(token), got); diff != "" {
					t.Errorf("progress (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestNoProgressWithoutToken(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ctx := testCtx(t)
	progress := newProgressLog()
	cs := connect(t, ctx, ts.mcpURL, tokAlice, progress)
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ReverseToolName, Arguments: map[string]any{"query": "ab"}})
	if err != nil || res.IsError {
		t.Fatalf("call: %v %v", err, res)
	}
	time.Sleep(50 * time.Millisecond)
	if got := progress.snapshot(); len(got) != 0 {
		t.Errorf("got %d progress notifications without a progress token", len(got))
	}
}

func TestCancellationStopsTheHandler(t *testing.T) {
	t.Parallel()
	ended := make(chan error, 1)
	ts := newTestServer(t, Config{
		ProgressInterval: 300 * time.Millisecond,
		onReverseEnd:     func(err error) { ended <- err },
	})
	ctx := testCtx(t)
	progress := newProgressLog()
	cs := connect(t, ctx, ts.mcpURL, tokAlice, progress)
	callCtx, stop := context.WithCancel(ctx)
	go func() {
		<-progress.first
		stop() // the client sends notifications/cancelled
	}()
	start := time.Now()
	_, err := cs.CallTool(callCtx, &mcp.CallToolParams{
		Name: ReverseToolName, Arguments: map[string]any{"query": "abc"}, Meta: mcp.Meta{"progressToken": "c"},
	})
	if err == nil {
		t.Fatal("CallTool succeeded after cancellation")
	}
	select {
	case herr := <-ended:
		if !errors.Is(herr, context.Canceled) {
			t.Errorf("handler ended with %v, want context.Canceled", herr)
		}
		if d := time.Since(start); d > 1200*time.Millisecond {
			t.Errorf("handler ran %v: it did not stop at the next step", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler never ended")
	}
	if n := len(progress.snapshot()); n >= ProgressSteps {
		t.Errorf("%d progress steps after cancellation at step 1", n)
	}
}

func TestSessionBoundToUser(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ctx := testCtx(t)
	cs := connect(t, ctx, ts.mcpURL, tokAlice, nil)
	ping := `{"jsonrpc":"2.0","id":99,"method":"ping"}`
	tests := []struct {
		name, token string
		want        int
	}{
		{name: "same user", token: tokAlice, want: 200},
		{name: "another user", token: tokBob, want: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := do(t, http.MethodPost, ts.mcpURL, tt.token, ping, map[string]string{
				"Mcp-Session-Id": cs.ID(), "Mcp-Protocol-Version": "2025-11-25",
			})
			if got.Status != tt.want {
				t.Errorf("status %d, want %d", got.Status, tt.want)
			}
		})
	}
}

func TestIdentityReachesTools(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	ctx := testCtx(t)
	cs := connect(t, ctx, ts.mcpURL, tokBob, nil)
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ReverseToolName, Arguments: map[string]any{"query": "x"}}); err != nil {
		t.Fatal(err)
	}
	// reverse_tool logs the verified subject only when it is cancelled; the request log
	// carries it for every authenticated request.
	if !strings.Contains(ts.logs.String(), `"subject":"bob-oid"`) {
		t.Errorf("request log lacks bob's subject")
	}
}

func TestToolErrors(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	// Not deferred: the parallel subtests run after this function returns.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	cs := connect(t, ctx, ts.mcpURL, tokAlice, nil)
	tests := []struct {
		name     string
		tool     string
		args     map[string]any
		wantText string
	}{
		{name: "min over max", tool: RandomToolName, args: map[string]any{"min": 5, "max": 1}, wantText: "min (5) is greater than max (1): swap them"},
		{name: "query over 64 KiB", tool: ReverseToolName, args: map[string]any{"query": strings.Repeat("é", MaxQuery/2+1)}, wantText: "query is 65538 bytes, over the 65536-byte (64 KiB) limit: send a shorter text"},
		{name: "missing max", tool: RandomToolName, args: map[string]any{"min": 1}, wantText: "max"},
		{name: "unknown argument", tool: ReverseToolName, args: map[string]any{"text": "a"}, wantText: "text"},
		// 2^53+1 would arrive as 2^53 (the SDK decodes arguments into float64) and be drawn
		// outside [min, max]; the schema's bound refuses it instead.
		{name: "max over 2^53-1", tool: RandomToolName, args: map[string]any{"min": int64(MaxSafeInteger + 2), "max": int64(MaxSafeInteger + 2)}, wantText: "maximum"},
		{name: "min below -(2^53-1)", tool: RandomToolName, args: map[string]any{"min": int64(math.MinInt64), "max": 0}, wantText: "minimum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tt.tool, Arguments: tt.args})
			if err != nil {
				t.Fatalf("protocol error %v, want a tool error", err)
			}
			if !res.IsError || !strings.Contains(textOf(res), tt.wantText) {
				t.Errorf("got isError=%v %q, want a tool error containing %q", res.IsError, textOf(res), tt.wantText)
			}
		})
	}
	t.Run("the largest safe integer is exact", func(t *testing.T) {
		t.Parallel()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: RandomToolName, Arguments: map[string]any{"min": int64(MaxSafeInteger), "max": int64(MaxSafeInteger)}})
		if err != nil || res.IsError {
			t.Fatalf("got %v %v", err, res)
		}
		if got := structured(t, res)["random_number"]; got != float64(MaxSafeInteger) {
			t.Errorf("random_number = %v, want %d", got, int64(MaxSafeInteger))
		}
	})
	t.Run("exactly 64 KiB is fine", func(t *testing.T) {
		t.Parallel()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ReverseToolName, Arguments: map[string]any{"query": strings.Repeat("ab", MaxQuery/2)}})
		if err != nil || res.IsError {
			t.Fatalf("got %v %v", err, res)
		}
		if got := structured(t, res)["reversed_query"]; got != strings.Repeat("ba", MaxQuery/2) {
			t.Errorf("wrong reversal of a 64 KiB query")
		}
	})
	t.Run("random in range", func(t *testing.T) {
		t.Parallel()
		for range 20 {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: RandomToolName, Arguments: map[string]any{"min": -3, "max": 3}})
			if err != nil || res.IsError {
				t.Fatalf("got %v %v", err, res)
			}
			n, _ := structured(t, res)["random_number"].(float64)
			if n < -3 || n > 3 || n != math.Trunc(n) {
				t.Fatalf("random_number %v outside [-3, 3]", n)
			}
		}
	})
}

func TestRandomBetween(t *testing.T) {
	t.Parallel()
	tests := []struct{ lo, hi int64 }{
		{0, 0}, {-1, 1}, {math.MinInt64, math.MaxInt64}, {math.MaxInt64 - 1, math.MaxInt64}, {math.MinInt64, math.MinInt64 + 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.lo, tt.hi), func(t *testing.T) {
			t.Parallel()
			for range 100 {
				if n := randomBetween(tt.lo, tt.hi); n < tt.lo || n > tt.hi {
					t.Fatalf("randomBetween(%d, %d) = %d", tt.lo, tt.hi, n)
				}
			}
		})
	}
}

func TestReverseGraphemes(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"ascii", "hello", "olleh"},
		{"combining acute", "e\u0301a", "ae\u0301"},
		{"precomposed", "héllo", "olléh"},
		{"skin tone", "a👍🏽b", "b👍🏽a"},
		{"flags", "🇫🇷🇩🇪", "🇩🇪🇫🇷"},
		{"zwj family", "x👨‍👩‍👧‍👦y", "y👨‍👩‍👧‍👦x"},
		{"hangul jamo", "\u1100\u1161\u11a8!", "!\u1100\u1161\u11a8"},
		{"crlf stays together", "a\r\nb", "b\r\na"},
		{"invalid utf-8 does not crash", "a\xffb", "b\xffa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tt.want, Reverse(tt.in)); diff != "" {
				t.Errorf("Reverse(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestToolsGolden(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	res, err := connectInMemory(t, ctx, NewServer(Config{})).ListTools(ctx, &mcp.ListToolsParams{})
	if err != nil {
		t.Fatal(err)
	}
	tools := res.Tools
	slices.SortFunc(tools, func(a, b *mcp.Tool) int { return strings.Compare(a.Name, b.Name) })
	got, err := json.MarshalIndent(tools, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Golden(t, "tools.golden", string(got)+"\n", *update)
}

func TestGracefulShutdownLetsCallsFinish(t *testing.T) {
	t.Parallel()
	h, err := Handler(Config{Verifier: fakeVerify, RequiredScopes: []string{"execute"}, PublicURL: "http://localhost/mcp", ProgressInterval: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stopServer := context.WithCancel(context.Background())
	defer stopServer()
	addrc := make(chan net.Addr, 1)
	served := make(chan error, 1)
	go func() {
		served <- ListenAndServe(srvCtx, h, ServeConfig{Addr: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second, Ready: func(a net.Addr) { addrc <- a }}, nil)
	}()
	addr := <-addrc
	url := "http://" + addr.String() + "/mcp"

	ctx := testCtx(t)
	progress := newProgressLog()
	cs := connect(t, ctx, url, tokAlice, progress)
	var stopped time.Time
	go func() {
		<-progress.first
		stopped = time.Now()
		stopServer() // SIGTERM in the middle of the call
	}()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{
		Name: ReverseToolName, Arguments: map[string]any{"query": "abc"}, Meta: mcp.Meta{"progressToken": 1},
	})
	if err != nil {
		t.Fatalf("in-flight call failed during shutdown: %v", err)
	}
	if diff := cmp.Diff(map[string]any{"reversed_query": "cba"}, structured(t, res)); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
		// The client's standalone GET stream must not hold the shutdown to its timeout.
		if d := time.Since(stopped); d > 3*time.Second {
			t.Errorf("shutdown took %v", d)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("ListenAndServe did not return")
	}
	if resp, err := http.Get("http://" + addr.String() + "/healthz"); err == nil {
		_ = resp.Body.Close()
		t.Errorf("the server still answers after shutdown")
	}
}

func TestListenAndServeErrors(t *testing.T) {
	t.Parallel()
	h := http.NotFoundHandler()
	tests := []struct {
		name string
		sc   ServeConfig
		want string
	}{
		{name: "cert without key", sc: ServeConfig{Addr: "127.0.0.1:0", TLSCert: "x.pem"}, want: "together"},
		{name: "missing key pair", sc: ServeConfig{Addr: "127.0.0.1:0", TLSCert: "nope.pem", TLSKey: "nope.key"}, want: "could not load the TLS key pair"},
		{name: "bad address", sc: ServeConfig{Addr: "256.0.0.1:0"}, want: "could not listen on 256.0.0.1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ListenAndServe(context.Background(), h, tt.sc, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestAcceptedTokenIsNotReExpired: the verifier decides expiry (with its own clock and
// --clock-skew); an identity whose exp is already past by the wall clock, accepted within
// the skew, must be served, not refused by a second, skew-free check in the SDK layer.
func TestAcceptedTokenIsNotReExpired(t *testing.T) {
	t.Parallel()
	withinSkew := func(_ context.Context, token string) (*auth.Identity, error) {
		if token != tokAlice {
			return nil, &auth.TokenError{Reason: auth.ReasonMalformed, Description: "token is malformed"}
		}
		return &auth.Identity{Subject: "alice-sub", Scopes: []string{"execute"}, Expiry: time.Now().Add(-30 * time.Second)}, nil
	}
	ts := newTestServer(t, Config{Verifier: withinSkew})
	ctx := testCtx(t)
	cs := connect(t, ctx, ts.mcpURL, tokAlice, nil)
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: ReverseToolName, Arguments: map[string]any{"query": "x"}}); err != nil {
		t.Fatalf("call with a token the verifier accepted: %v", err)
	}
}
