package mcpclient_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
	"github.com/fastmcp-auth/fastmcp-auth/mcpclient"
	"github.com/fastmcp-auth/fastmcp-auth/mcpclient/mcpclienttest"
)

var testTokens = map[string][]string{"good": {"execute"}, "noscope": {"read"}}

func connect(t *testing.T, url, token string) *mcpclient.Client {
	t.Helper()
	c, err := mcpclient.Connect(context.Background(), mcpclient.Config{Server: url, Token: auth.StaticToken(token)})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestListAndCall(t *testing.T) {
	t.Parallel()
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{Tokens: testTokens})
	c := connect(t, srv.URL, "good")

	tools, err := c.ListTools(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools {
		names = append(names, tool.Name)
	}
	if diff := cmp.Diff([]string{"random_number_tool", "reverse_tool"}, names); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}

	res, err := c.CallTool(context.Background(), "reverse_tool", map[string]any{"query": "héllo"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"reversed_query": "olléh"}, res.StructuredContent); diff != "" {
		t.Errorf("structured content (-want +got):\n%s", diff)
	}

	// The bearer token went in every request, as "Bearer <token>".
	for _, h := range srv.Headers() {
		if got := h.Get("Authorization"); got != "Bearer good" {
			t.Fatalf("Authorization = %q, want Bearer good", got)
		}
	}
}

func TestNoTokenSendsNoAuthorization(t *testing.T) {
	t.Parallel()
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{})
	c := connect(t, srv.URL, "")
	if _, err := c.ListTools(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, h := range srv.Headers() {
		if v, ok := h["Authorization"]; ok {
			t.Fatalf("Authorization header sent without a token: %d value(s)", len(v))
		}
	}
}

func TestAuthErrors(t *testing.T) {
	t.Parallel()
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{Tokens: testTokens})
	meta := srv.HTTP.URL[len("http://"):]
	meta = "http://" + meta + "/.well-known/oauth-protected-resource/mcp"
	tests := []struct {
		name  string
		token string
		want  *mcpclient.AuthError
	}{
		{"no token", "", &mcpclient.AuthError{Status: 401, Scope: "execute", ResourceMetadata: meta, Description: "no bearer token"}},
		{"bad token", "bad", &mcpclient.AuthError{Status: 401, Code: "invalid_token", Description: "token expired at 2026-01-02T15:04:05Z", ResourceMetadata: meta}},
		{"missing scope", "noscope", &mcpclient.AuthError{Status: 403, Code: "insufficient_scope", Scope: "execute", Description: "the token lacks the scope execute", ResourceMetadata: meta}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := mcpclient.Connect(context.Background(), mcpclient.Config{Server: srv.URL, Token: auth.StaticToken(tt.token)})
			var ae *mcpclient.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("Connect error = %v (%T), want *AuthError", err, err)
			}
			if diff := cmp.Diff(tt.want, ae); diff != "" {
				t.Errorf("AuthError (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	// A port that was just free: connection refused.
	refused := "http://" + testenv.FreeAddr(t) + "/mcp"

	notMCP := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notMCP.Close)

	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler()) // a CA the client does not trust
	t.Cleanup(tlsSrv.Close)

	tests := []struct {
		name, url string
		wantInMsg string
	}{
		{"connection refused", refused, "connection refused"},
		{"no endpoint (404)", notMCP.URL + "/mcp", "404"},
		{"untrusted certificate", tlsSrv.URL + "/mcp", "--ca-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := mcpclient.Connect(context.Background(), mcpclient.Config{Server: tt.url, Token: auth.StaticToken("x")})
			var ue *mcpclient.UnreachableError
			if !errors.As(err, &ue) {
				t.Fatalf("Connect error = %v (%T), want *UnreachableError", err, err)
			}
			if ue.URL != tt.url {
				t.Errorf("URL = %q, want %q", ue.URL, tt.url)
			}
			if !errors.Is(err, auth.ErrUnreachable) {
				t.Errorf("error does not match auth.ErrUnreachable")
			}
			if msg := err.Error(); !strings.Contains(msg, tt.wantInMsg) || !strings.Contains(msg, tt.url) {
				t.Errorf("message %q should name %q and the URL", msg, tt.wantInMsg)
			}
			if strings.Contains(err.Error(), "Bearer") {
				t.Errorf("message leaks the Authorization header: %q", err)
			}
		})
	}
}

// TestProgressBeforeResult repeats the call because the go-sdk alone delivers the last
// notification after the result in a fair share of runs.
func TestProgressBeforeResult(t *testing.T) {
	t.Parallel()
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{})
	c := connect(t, srv.URL, "")
	want := []string{"1/5 step 1 of 5", "2/5 step 2 of 5", "3/5 step 3 of 5", "4/5 step 4 of 5", "5/5 step 5 of 5", "result"}
	for i := range 20 {
		var mu sync.Mutex
		var events []string
		res, err := c.CallTool(context.Background(), "reverse_tool", map[string]any{"query": "abc"}, func(p mcpclient.Progress) {
			mu.Lock()
			events = append(events, fmt.Sprintf("%g/%g %s", p.Progress, p.Total, p.Message))
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		events = append(events, "result")
		mu.Unlock()
		if res.IsError {
			t.Fatalf("isError result: %+v", res)
		}
		time.Sleep(5 * time.Millisecond) // a late callback would land here
		mu.Lock()
		got := append([]string(nil), events...)
		mu.Unlock()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("run %d: events (-want +got):\n%s", i, diff)
		}
	}
}

// killSwitch fails every request once killed, as if the process had exited.
type killSwitch struct {
	mu     sync.Mutex
	killed bool
}

func (k *killSwitch) RoundTrip(r *http.Request) (*http.Response, error) {
	k.mu.Lock()
	killed := k.killed
	k.mu.Unlock()
	if killed {
		return nil, errors.New("process exited")
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	k.killed = true
	k.mu.Unlock()
}

func TestCancelReachesServer(t *testing.T) {
	t.Parallel()
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{ProgressInterval: 2 * time.Second})
	ks := &killSwitch{}
	c, err := mcpclient.Connect(context.Background(), mcpclient.Config{Server: srv.URL, HTTPClient: &http.Client{Transport: ks}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-srv.Started()
		cancel()
	}()
	start := time.Now()
	_, err = c.CallTool(ctx, "reverse_tool", map[string]any{"query": "abc"}, func(mcpclient.Progress) {})
	// The CLI exits as soon as CallTool returns: nothing may be sent after that.
	ks.kill()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("CallTool error = %v, want context.Canceled", err)
	}
	// By the time CallTool returned, notifications/cancelled was delivered: the handler
	// stops promptly, long before its first 2 s step.
	select {
	case name := <-srv.Cancelled():
		if name != "reverse_tool" {
			t.Errorf("cancelled %q", name)
		}
	case <-time.After(time.Second):
		t.Fatal("the server handler was not cancelled")
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("cancellation took %v", d)
	}
}

func TestToolErrorIsResult(t *testing.T) {
	t.Parallel()
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{})
	c := connect(t, srv.URL, "")
	res, err := c.CallTool(context.Background(), "random_number_tool", map[string]any{"min": 5, "max": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError {
		t.Fatalf("want isError, got %+v", res)
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); !ok || !strings.Contains(tc.Text, "min must not be greater than max") {
		t.Errorf("content = %#v", res.Content)
	}
}

// TestRejectedTokenIsRefreshedOnce: a 401 to the supply's token makes the client ask the supply
// for a new one (a forced refresh) and retry; a supply that keeps giving rejected tokens gets
// one forced refresh, then the 401 is reported.
func TestRejectedTokenIsRefreshedOnce(t *testing.T) {
	t.Parallel()
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{Tokens: testTokens})
	for _, tc := range []struct {
		name       string
		tokens     []string // the first, then one per forced refresh
		wantErr    bool
		wantForced int
	}{
		{"refreshed token accepted", []string{"bad", "good"}, false, 1},
		{"refreshed token rejected too", []string{"bad", "bad2", "good"}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			i, forced := 0, 0
			supply := auth.NewTokenSupply(func(_ context.Context, force bool) (*auth.Token, error) {
				mu.Lock()
				defer mu.Unlock()
				if force {
					forced++
					i++
				}
				return &auth.Token{AccessToken: tc.tokens[i]}, nil
			})
			c, err := mcpclient.Connect(context.Background(), mcpclient.Config{Server: srv.URL, Token: supply})
			if tc.wantErr {
				var ae *mcpclient.AuthError
				if !errors.As(err, &ae) || ae.Status != 401 {
					t.Fatalf("Connect error = %v, want a 401 *AuthError", err)
				}
			} else {
				if err != nil {
					t.Fatalf("Connect: %v", err)
				}
				defer c.Close()
				if _, err := c.ListTools(context.Background()); err != nil {
					t.Fatalf("ListTools with the refreshed token: %v", err)
				}
			}
			if forced != tc.wantForced {
				t.Errorf("forced refreshes = %d, want %d", forced, tc.wantForced)
			}
		})
	}
}
