package mcpclient_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
	"github.com/fastmcp-auth/fastmcp-auth/mcpclient"
	"github.com/fastmcp-auth/fastmcp-auth/mcpclient/mcpclienttest"
)

// These tests run the client against fastmcp-auth's own server handler, to check that the
// two agree on the wire (challenges, progress, cancellation).

// newRealServer serves mcpserver.Handler (mcpclienttest.RealServer) with a verifier that
// knows "good" (execute) and "noscope" (read); any other token is expired.
func newRealServer(t *testing.T, interval time.Duration) (url string, logs *testenv.SyncBuffer) {
	t.Helper()
	logs = &testenv.SyncBuffer{}
	url = mcpclienttest.RealServer(t, map[string]auth.Identity{
		"good":    {Subject: "alice", Scopes: []string{"execute"}},
		"noscope": {Subject: "bob", Scopes: []string{"read"}},
	}, interval, slog.New(slog.NewTextHandler(logs, nil)))
	return url, logs
}

func TestRealServerAuthErrors(t *testing.T) {
	t.Parallel()
	url, _ := newRealServer(t, 0)
	tests := []struct {
		name, token string
		want        mcpclient.AuthError // ResourceMetadata checked apart
	}{
		{"no token", "", mcpclient.AuthError{Status: 401, Scope: "execute"}},
		{"expired", "old", mcpclient.AuthError{Status: 401, Code: "invalid_token", Description: "token expired at 2026-01-02T15:04:05Z", Scope: "execute"}},
		{"missing scope", "noscope", mcpclient.AuthError{Status: 403, Code: "insufficient_scope", Scope: "execute"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := mcpclient.Connect(context.Background(), mcpclient.Config{Server: url, Token: auth.StaticToken(tt.token)})
			var ae *mcpclient.AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("Connect error = %v, want *AuthError", err)
			}
			got := *ae
			if !strings.Contains(got.ResourceMetadata, "/.well-known/oauth-protected-resource") {
				t.Errorf("resource_metadata = %q", got.ResourceMetadata)
			}
			got.ResourceMetadata = ""
			if tt.want.Description == "" {
				got.Description = "" // the server's own wording; only the codes are contract
			}
			if tt.want.Scope == "" || (tt.want.Status == 401 && got.Scope == "") {
				got.Scope = tt.want.Scope // scope on a 401 is optional
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("AuthError (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRealServerProgressAndCancel(t *testing.T) {
	t.Parallel()
	url, _ := newRealServer(t, 0)
	c := connect(t, url, "good")
	for i := range 20 {
		var mu sync.Mutex
		var events []string
		res, err := c.CallTool(context.Background(), "reverse_tool", map[string]any{"query": "ab"}, func(p mcpclient.Progress) {
			mu.Lock()
			events = append(events, fmt.Sprintf("%g/%g", p.Progress, p.Total))
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		events = append(events, fmt.Sprint(res.StructuredContent))
		got := append([]string(nil), events...)
		mu.Unlock()
		want := []string{"1/5", "2/5", "3/5", "4/5", "5/5", "map[reversed_query:ba]"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("run %d (-want +got):\n%s", i, diff)
		}
	}
}

func TestRealServerCancel(t *testing.T) {
	t.Parallel()
	url, logs := newRealServer(t, 2*time.Second)
	c := connect(t, url, "good")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := c.CallTool(ctx, "reverse_tool", map[string]any{"query": "ab"}, func(mcpclient.Progress) {})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CallTool error = %v", err)
	}
	deadline := time.Now().Add(time.Second)
	for !strings.Contains(logs.String(), "reverse_tool cancelled") {
		if time.Now().After(deadline) {
			t.Fatalf("the server handler did not see the cancellation; logs:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
