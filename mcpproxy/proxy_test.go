package mcpproxy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

func TestRelayListsToolsPromptsResources(t *testing.T) {
	t.Parallel()
	_, p := startRelay(t, "good")
	ctx := context.Background()

	if got := p.cs.InitializeResult().ServerInfo.Name; got != "fake-upstream" {
		t.Errorf("server name through the proxy = %q, want the upstream's", got)
	}
	checkToolNames(t, ctx, p.cs)
	prompt, err := p.cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet"})
	if err != nil {
		t.Fatalf("prompts/get: %v", err)
	}
	if got := prompt.Messages[0].Content.(*mcp.TextContent).Text; got != "hello" {
		t.Errorf("prompt text = %q", got)
	}
	res, err := p.cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "file:///readme.txt"})
	if err != nil {
		t.Fatalf("resources/read: %v", err)
	}
	if got := res.Contents[0].Text; got != "read me" {
		t.Errorf("resource text = %q", got)
	}
}

func TestRelayCallWithProgressTokens(t *testing.T) {
	t.Parallel()
	_, p := startRelay(t, "good")
	// Numeric tokens arrive in Go as float64, which SetProgressToken would reject: the proxy
	// must not touch them.
	for _, tc := range []struct {
		name  string
		token any
		want  any
	}{
		{"string token", "tok-1", "tok-1"},
		{"numeric token", 42, float64(42)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := p.cs.CallTool(context.Background(), &mcp.CallToolParams{
				Name: "reverse_tool", Arguments: map[string]any{"query": "hello"},
				Meta: mcp.Meta{"progressToken": tc.token},
			})
			if err != nil {
				t.Fatalf("tools/call: %v", err)
			}
			if diff := cmp.Diff(`{"reversed_query":"olleh"}`, mustJSON(t, res.StructuredContent)); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			var got []float64
			deadline := time.After(2 * time.Second)
			for len(got) < 5 {
				select {
				case pr := <-p.progress:
					if diff := cmp.Diff(tc.want, pr.ProgressToken); diff != "" {
						t.Errorf("progress token (-want +got):\n%s", diff)
					}
					got = append(got, pr.Progress)
				case <-deadline:
					t.Fatalf("got %d progress notifications, want 5", len(got))
				}
			}
			if diff := cmp.Diff([]float64{1, 2, 3, 4, 5}, got); diff != "" {
				t.Errorf("progress (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCancellationReachesTheServerTool(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, "")
	u.interval.Store(int64(200 * time.Millisecond))
	p, err := startProxy(t, Config{Server: u.url()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-p.progress // first step done: the tool is running
		cancel()
	}()
	_, err = p.cs.CallTool(ctx, &mcp.CallToolParams{
		Name: "reverse_tool", Arguments: map[string]any{"query": "x"}, Meta: mcp.Meta{"progressToken": "c"}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("CallTool error = %v, want context.Canceled", err)
	}
	select {
	case ended := <-u.toolEnded:
		if !errors.Is(ended, context.Canceled) {
			t.Errorf("the server tool ended with %v, want context.Canceled (the cancellation did not reach it)", ended)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the server tool did not end")
	}
	// The session keeps working after a cancelled call.
	if _, err := p.cs.ListTools(context.Background(), nil); err != nil {
		t.Errorf("tools/list after a cancelled call: %v", err)
	}
}

func TestExpiredTokenIsRefreshedAndRetried(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, "", "first")
	src := &staticSource{tokens: []string{"first", "second"}}
	p, err := startProxy(t, Config{Server: u.url(), Token: src.supply()})
	if err != nil {
		t.Fatal(err)
	}
	u.setValid("second") // "first" expires mid-session
	res, err := p.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "random_number_tool", Arguments: map[string]any{"min": 3, "max": 3}})
	if err != nil {
		t.Fatalf("tools/call after the token expired: %v", err)
	}
	if diff := cmp.Diff(`{"random_number":3}`, mustJSON(t, res.StructuredContent)); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if src.forced != 1 {
		t.Errorf("forced refreshes = %d, want 1", src.forced)
	}
}

func TestAuthFailuresAreJSONRPCErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		source   *auth.TokenSupply
		noScope  bool
		wantCode int64
		wantIn   []string
	}{
		{
			name:     "revoked: the refresh gives the same token",
			source:   (&staticSource{tokens: []string{"revoked"}}).supply(),
			wantCode: CodeUnauthorized,
			wantIn:   []string{"fastmcp-auth login", "token expired at 2026-01-02T15:04:05Z"},
		},
		{
			name:     "revoked: the refresh fails",
			source:   supplyOf(func(_ context.Context, force bool) (string, error) { return tokenOrErr(force) }),
			wantCode: CodeUnauthorized,
			wantIn:   []string{"not signed in: run fastmcp-auth login"},
		},
		{
			name: "no token at all",
			source: supplyOf(func(context.Context, bool) (string, error) {
				return "", errors.New("not signed in: run fastmcp-auth login")
			}),
			wantCode: CodeUnauthorized,
			wantIn:   []string{"fastmcp-auth login"},
		},
		{
			name:     "no-auth against a secured server",
			source:   nil,
			wantCode: CodeUnauthorized,
			wantIn:   []string{"--no-auth", "fastmcp-auth login"},
		},
		{
			name:     "missing scope",
			source:   (&staticSource{tokens: []string{"weak"}}).supply(),
			noScope:  true,
			wantCode: CodeForbidden,
			wantIn:   []string{`"execute"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := newUpstream(t, "", "good")
			if tc.noScope {
				u.noScope["weak"] = true
			}
			_, err := startProxy(t, Config{Server: u.url(), Token: tc.source})
			if err == nil {
				t.Fatal("initialize succeeded, want an error")
			}
			if got := rpcCode(err); got != tc.wantCode {
				t.Errorf("error code = %d, want %d (%v)", got, tc.wantCode, err)
			}
			for _, w := range tc.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "revoked") || strings.Contains(err.Error(), "weak") {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func tokenOrErr(force bool) (string, error) {
	if force {
		return "", errors.New("not signed in: run fastmcp-auth login")
	}
	return "revoked", nil
}

func TestTokenRevokedMidSession(t *testing.T) {
	t.Parallel()
	u, p := startRelay(t, "good")
	u.setValid() // every token is now rejected
	_, err := p.cs.ListTools(context.Background(), nil)
	if got := rpcCode(err); got != CodeUnauthorized || !strings.Contains(err.Error(), "fastmcp-auth login") {
		t.Fatalf("tools/list error = %v (code %d), want code %d telling to run fastmcp-auth login", err, got, CodeUnauthorized)
	}
	u.setValid("good") // signed in again: the same session works
	if _, err := p.cs.ListTools(context.Background(), nil); err != nil {
		t.Errorf("tools/list after signing in again: %v", err)
	}
}

func TestServerRestartIsAnErrorThenReconnects(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, "127.0.0.1:0")
	addr := u.ts.Listener.Addr().String()
	p, err := startProxy(t, Config{Server: u.url()})
	if err != nil {
		t.Fatal(err)
	}
	// Bounded, so that a proxy that never answers fails this test instead of hanging the
	// package until go test's own timeout (seen once under heavy load).
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := p.cs.ListTools(ctx, nil); err != nil {
		t.Fatal(err)
	}

	u.ts.CloseClientConnections() // the server goes away, its streams with it
	u.ts.Close()
	_, err = p.cs.ListTools(ctx, nil)
	if got := rpcCode(err); got != CodeUnreachable {
		t.Fatalf("tools/list with the server down: error %v (code %d), want code %d", err, got, CodeUnreachable)
	}
	if !strings.Contains(err.Error(), "could not reach the MCP server") {
		t.Errorf("error %q does not say the server is unreachable", err)
	}

	u2 := newUpstream(t, addr) // restarted: it knows nothing of the old session
	res, err := p.cs.CallTool(ctx, &mcp.CallToolParams{Name: "random_number_tool", Arguments: map[string]any{"min": 7, "max": 7}})
	if err != nil {
		t.Fatalf("tools/call after the restart: %v", err)
	}
	if diff := cmp.Diff(`{"random_number":7}`, mustJSON(t, res.StructuredContent)); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if u2.posts.Load() < 3 { // initialize, initialized, the call
		t.Errorf("the restarted server got %d POSTs, want the re-initialization and the call", u2.posts.Load())
	}
}

func TestListChangedNotificationIsRelayed(t *testing.T) {
	t.Parallel()
	u, p := startRelay(t)
	// The standalone GET stream opens after notifications/initialized; wait for it.
	deadline := time.Now().Add(3 * time.Second)
	for !slices.Contains(u.httpMethods(), "GET") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	u.server.AddTool(&mcp.Tool{Name: "late_tool", InputSchema: map[string]any{"type": "object"}},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	select {
	case <-p.changed:
	case <-time.After(3 * time.Second):
		t.Fatal("notifications/tools/list_changed did not reach the client")
	}
}

func TestStdinCloseEndsTheSession(t *testing.T) {
	t.Parallel()
	u, p := startRelay(t)
	start := time.Now()
	p.stdin.Close()
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("Run returned %v after stdin closed, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after stdin closed")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run took %v to return with nothing in flight", d)
	}
	if !slices.Contains(u.httpMethods(), "DELETE") {
		t.Errorf("the session was not ended: methods %v", u.httpMethods())
	}
	p.done <- nil // for the cleanup
}
