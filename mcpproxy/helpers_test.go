package mcpproxy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/httpx"
)

// upstream is a fake remote MCP server: the go-sdk Streamable HTTP handler (stateful, as
// `serve` runs it) with a reverse_tool reporting five progress steps, a random_number_tool, a
// prompt and a resource, behind a bearer check whose accepted tokens the test controls. It
// records what the proxy sent, so tests assert protocol facts.
type upstream struct {
	t        *testing.T
	server   *mcp.Server
	ts       *httptest.Server
	interval atomic.Int64 // pause before each progress step, in nanoseconds

	mu       sync.Mutex
	valid    map[string]bool // accepted tokens; nil map: no auth at all
	noScope  map[string]bool // tokens answered 403 insufficient_scope
	rejected int             // 401 answers
	methods  []string        // HTTP methods received (POST, GET, DELETE)

	toolEnded chan error // the error each reverse_tool call ended with (nil or context.Canceled)
	posts     atomic.Int64
}

type reverseIn struct {
	Query string `json:"query"`
}
type reverseOut struct {
	ReversedQuery string `json:"reversed_query"`
}
type randomIn struct {
	Min int `json:"min"`
	Max int `json:"max"`
}
type randomOut struct {
	RandomNumber int `json:"random_number"`
}

func newMCPServer(u *upstream) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "fake-upstream", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "reverse_tool", Description: "reverses the query"},
		func(ctx context.Context, req *mcp.CallToolRequest, in reverseIn) (*mcp.CallToolResult, reverseOut, error) {
			tok := req.Params.GetProgressToken()
			for i := 1; i <= 5; i++ {
				select {
				case <-ctx.Done():
					u.toolEnded <- ctx.Err()
					return nil, reverseOut{}, ctx.Err()
				case <-time.After(time.Duration(u.interval.Load())):
				}
				if tok != nil {
					_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
						ProgressToken: tok, Progress: float64(i), Total: 5, Message: "step"})
				}
			}
			r := []rune(in.Query)
			for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
				r[i], r[j] = r[j], r[i]
			}
			u.toolEnded <- nil
			return nil, reverseOut{ReversedQuery: string(r)}, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "random_number_tool", Description: "a number in [min, max]"},
		func(_ context.Context, _ *mcp.CallToolRequest, in randomIn) (*mcp.CallToolResult, randomOut, error) {
			return nil, randomOut{RandomNumber: in.Min}, nil
		})
	s.AddPrompt(&mcp.Prompt{Name: "greet", Description: "a greeting"},
		func(_ context.Context, _ *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello"}}}}, nil
		})
	s.AddResource(&mcp.Resource{Name: "readme", URI: "file:///readme.txt", MIMEType: "text/plain"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "read me"}}}, nil
		})
	return s
}

// newUpstream starts the fake server on addr ("" for any loopback port). valid lists the
// accepted tokens; with none, no token is needed.
func newUpstream(t *testing.T, addr string, valid ...string) *upstream {
	t.Helper()
	u := &upstream{t: t, toolEnded: make(chan error, 100), noScope: map[string]bool{}}
	if len(valid) > 0 {
		u.valid = map[string]bool{}
		for _, v := range valid {
			u.valid[v] = true
		}
	}
	u.interval.Store(int64(20 * time.Millisecond))
	u.server = newMCPServer(u)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return u.server }, nil)
	u.ts = httptest.NewUnstartedServer(u.wrap(h))
	if addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen %s: %v", addr, err)
		}
		u.ts.Listener.Close()
		u.ts.Listener = l
	}
	u.ts.Start()
	t.Cleanup(func() {
		u.ts.CloseClientConnections() // a standalone GET stream would hold Close forever
		u.ts.Close()
	})
	return u
}

func (u *upstream) url() string { return u.ts.URL + "/mcp" }

func (u *upstream) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.methods = append(u.methods, r.Method)
		tok, _ := httpx.BearerToken(r)
		valid, noScope := u.valid, u.noScope[tok]
		ok := valid == nil || valid[tok]
		if !ok && !noScope {
			u.rejected++
		}
		u.mu.Unlock()
		if r.Method == http.MethodPost {
			u.posts.Add(1)
		}
		switch {
		case noScope:
			w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="execute"`)
			http.Error(w, "insufficient scope", http.StatusForbidden)
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="token expired at 2026-01-02T15:04:05Z", scope="execute"`)
			http.Error(w, "invalid token", http.StatusUnauthorized)
		default:
			h.ServeHTTP(w, r)
		}
	})
}

func (u *upstream) setValid(tokens ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.valid = map[string]bool{}
	for _, v := range tokens {
		u.valid[v] = true
	}
}

func (u *upstream) httpMethods() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.methods...)
}

// proxied is an in-process proxy run on pipes with a go-sdk client on the other end.
type proxied struct {
	cs       *mcp.ClientSession
	stdin    io.WriteCloser
	done     chan error
	progress chan *mcp.ProgressNotificationParams
	changed  chan struct{}
}

// startProxy runs Run on pipes and connects a go-sdk client to it. connectErr is returned
// instead of failing the test, for tests that expect initialize to fail.
func startProxy(t *testing.T, cfg Config) (*proxied, error) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &proxied{stdin: inW, done: make(chan error, 1),
		progress: make(chan *mcp.ProgressNotificationParams, 100), changed: make(chan struct{}, 10)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		err := Run(ctx, cfg, inR, outW)
		_ = outW.Close()
		p.done <- err
	}()
	t.Cleanup(func() {
		_ = inW.Close()
		select {
		case err := <-p.done:
			_ = err // how it stopped is for the tests to check; the cleanup only waits
		case <-time.After(10 * time.Second):
			t.Error("proxy did not stop after stdin closed")
		}
		cancel()
	})
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
			p.progress <- r.Params
		},
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { p.changed <- struct{}{} },
	})
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	cs, err := client.Connect(cctx, &mcp.IOTransport{Reader: outR, Writer: inW}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		return p, err
	}
	p.cs = cs
	return p, nil
}

// rpcCode returns the JSON-RPC error code in err, 0 if none.
func rpcCode(err error) int64 {
	var we *jsonrpc.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return 0
}

// staticSource is a TokenSource handing out tokens in order: the first, then the next one
// on each forced refresh (the last one stays).
type staticSource struct {
	mu     sync.Mutex
	tokens []string
	i      int
	forced int
}

// supply is the source as an auth.TokenSupply.
func (s *staticSource) supply() *auth.TokenSupply { return supplyOf(s.source) }

// supplyOf wraps a test token function as an auth.TokenSupply (tokens of unknown expiry).
func supplyOf(f func(ctx context.Context, force bool) (string, error)) *auth.TokenSupply {
	return auth.NewTokenSupply(func(ctx context.Context, force bool) (*auth.Token, error) {
		t, err := f(ctx, force)
		if err != nil {
			return nil, err
		}
		return &auth.Token{AccessToken: t}, nil
	})
}

func (s *staticSource) source(_ context.Context, force bool) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if force {
		s.forced++
		if s.i < len(s.tokens)-1 {
			s.i++
		}
	}
	return s.tokens[s.i], nil
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startRelay starts an upstream and a proxy to it: with tokens, the upstream accepts those
// and the proxy sends the first; without, neither asks for one.
func startRelay(t *testing.T, tokens ...string) (*upstream, *proxied) {
	t.Helper()
	u := newUpstream(t, "", tokens...)
	cfg := Config{Server: u.url()}
	if len(tokens) > 0 {
		cfg.Token = (&staticSource{tokens: tokens[:1]}).supply()
	}
	p, err := startProxy(t, cfg)
	if err != nil {
		t.Fatalf("connect through the proxy: %v", err)
	}
	return u, p
}

// checkToolNames lists the tools through cs and compares their sorted names with the fake
// upstream's.
func checkToolNames(t *testing.T, ctx context.Context, cs *mcp.ClientSession) {
	t.Helper()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"random_number_tool", "reverse_tool"}, names); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
}
