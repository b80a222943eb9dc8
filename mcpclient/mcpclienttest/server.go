// Package mcpclienttest runs a small in-process MCP server for the client's tests, with the
// tools of fastmcp-auth's server (their names and input and output types are mcpserver's own,
// so the schemas cannot drift) but test-friendly behaviour: it records request headers, reports
// tool starts and cancellations on channels, returns min as the "random" number, and checks
// bearer tokens from a fixed table, answering 401 and 403 as RFC 6750 says. Tests of the
// client against the real handler (mcpserver.Handler) live beside the client's own tests.
package mcpclienttest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/internal/httpx"
	"github.com/fastmcp-auth/fastmcp-auth/mcpserver"
)

// Options configures the test server.
type Options struct {
	// Tokens maps each accepted bearer token to its scopes; nil disables the bearer check.
	Tokens map[string][]string
	// RequiredScope is the scope every token must carry (when Tokens is set); default "execute".
	RequiredScope string
	// ProgressInterval is the pause between reverse_tool's progress steps.
	ProgressInterval time.Duration
}

// Server is a running test server.
type Server struct {
	// URL is the MCP endpoint (…/mcp).
	URL string
	// HTTP is the underlying httptest server (closed at the end of the test).
	HTTP *httptest.Server

	mu        sync.Mutex
	started   chan string
	cancelled chan string
	headers   []http.Header
}

// NewServer starts the server; it stops when the test ends.
func NewServer(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.RequiredScope == "" {
		opts.RequiredScope = "execute"
	}
	s := &Server{started: make(chan string, 64), cancelled: make(chan string, 64)}
	server := mcp.NewServer(&mcp.Implementation{Name: "mcpclienttest", Version: "test"}, nil)
	mcp.AddTool(server, &mcp.Tool{Name: mcpserver.ReverseToolName, Description: "Reverse a string, reporting progress."}, s.reverse(opts.ProgressInterval))
	mcp.AddTool(server, &mcp.Tool{Name: mcpserver.RandomToolName, Description: "A random number between min and max."}, s.random)

	var h http.Handler = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	if opts.Tokens != nil {
		h = s.bearer(opts, h)
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", s.record(h))
	s.HTTP = httptest.NewServer(mux)
	t.Cleanup(s.HTTP.Close)
	s.URL = s.HTTP.URL + "/mcp"
	return s
}

// Started returns the names of tool calls as their handlers start.
func (s *Server) Started() <-chan string { return s.started }

// Cancelled returns the names of tool calls whose handler saw its context cancelled.
func (s *Server) Cancelled() <-chan string { return s.cancelled }

// Headers returns the request headers received so far.
func (s *Server) Headers() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.headers)
}

func (s *Server) record(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

// bearer answers a missing or unknown token with 401 and a token without the scope with 403,
// with RFC 6750 challenges.
func (s *Server) bearer(opts Options, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		meta := fmt.Sprintf(`resource_metadata="http://%s/.well-known/oauth-protected-resource/mcp"`, r.Host)
		tok, ok := httpx.BearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer %s, scope="%s"`, meta, opts.RequiredScope))
			http.Error(w, "no bearer token", http.StatusUnauthorized)
			return
		}
		scopes, known := opts.Tokens[tok]
		if !known {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer %s, error="invalid_token", error_description="token expired at 2026-01-02T15:04:05Z"`, meta))
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		if !slices.Contains(scopes, opts.RequiredScope) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer %s, error="insufficient_scope", scope="%s", error_description="the token lacks the scope %s"`, meta, opts.RequiredScope, opts.RequiredScope))
			http.Error(w, "insufficient scope", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) reverse(interval time.Duration) mcp.ToolHandlerFor[mcpserver.ReverseInput, mcpserver.ReverseOutput] {
	return func(ctx context.Context, req *mcp.CallToolRequest, in mcpserver.ReverseInput) (*mcp.CallToolResult, mcpserver.ReverseOutput, error) {
		send(s.started, mcpserver.ReverseToolName)
		tok := req.Params.GetProgressToken()
		const steps = mcpserver.ProgressSteps
		for i := 1; i <= steps; i++ {
			select {
			case <-ctx.Done():
				send(s.cancelled, mcpserver.ReverseToolName)
				return nil, mcpserver.ReverseOutput{}, ctx.Err()
			case <-time.After(interval):
			}
			if tok != nil {
				_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: tok, Progress: float64(i), Total: steps, Message: fmt.Sprintf("step %d of %d", i, steps)})
			}
		}
		return nil, mcpserver.ReverseOutput{ReversedQuery: mcpserver.Reverse(in.Query)}, nil
	}
}

func (s *Server) random(_ context.Context, _ *mcp.CallToolRequest, in mcpserver.RandomInput) (*mcp.CallToolResult, mcpserver.RandomOutput, error) {
	send(s.started, mcpserver.RandomToolName)
	if in.Min > in.Max {
		return nil, mcpserver.RandomOutput{}, errors.New("min must not be greater than max")
	}
	return nil, mcpserver.RandomOutput{RandomNumber: in.Min}, nil // deterministic: tests compare it
}

// send reports an event without ever blocking a handler; tests read only the first few.
func send(ch chan string, v string) {
	select {
	case ch <- v:
	default:
	}
}
