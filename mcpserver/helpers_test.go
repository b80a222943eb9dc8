package mcpserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/httpx"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// Tokens understood by fakeVerify. They are opaque strings: what a real verifier does with a
// JWT is tested in package auth; here only the HTTP answer to each outcome matters.
const (
	tokAlice     = "tok-alice-0123456789"
	tokBob       = "tok-bob-0123456789"
	tokNoScope   = "tok-noscope-0123456789"
	tokApp       = "tok-app-0123456789"
	tokAppNoRole = "tok-appnorole-0123456789"
	tokExpired   = "tok-expired-0123456789"
	tokAudience  = "tok-audience-0123456789"
	tokQuotes    = "tok-quotes-0123456789"
	tokBackend   = "tok-backend-0123456789"
	tokNilID     = "tok-nilid-0123456789"
)

// fakeVerify stands in for auth.Verifier.Verify.
func fakeVerify(_ context.Context, token string) (*auth.Identity, error) {
	exp := time.Now().Add(time.Hour)
	switch token {
	case tokAlice:
		return &auth.Identity{Subject: "alice-sub", ObjectID: "alice-oid", TenantID: "tenant-1", ClientID: "cli-app", Scopes: []string{"execute", "read"}, Expiry: exp}, nil
	case tokBob:
		return &auth.Identity{Subject: "bob-sub", ObjectID: "bob-oid", Scopes: []string{"execute"}, Expiry: exp}, nil
	case tokNoScope:
		return &auth.Identity{Subject: "carol-sub", Scopes: []string{"read"}, Expiry: exp}, nil
	case tokApp:
		return &auth.Identity{Subject: "app-sub", ObjectID: "app-oid", Roles: []string{"execute"}, Expiry: exp}, nil
	case tokAppNoRole:
		return &auth.Identity{Subject: "app2-sub", Roles: []string{"other"}, Expiry: exp}, nil
	case tokExpired:
		return nil, &auth.TokenError{Reason: auth.ReasonExpired, Description: "token expired at 2026-01-02T15:04:05Z"}
	case tokAudience:
		return nil, &auth.TokenError{Reason: auth.ReasonWrongAudience, Description: "token audience is not accepted"}
	case tokQuotes:
		return nil, &auth.TokenError{Reason: auth.ReasonMalformed, Description: `bad "quoted" \ thing é`}
	case tokBackend:
		return nil, errors.New("could not fetch https://internal.example/keys for " + token)
	case tokNilID:
		return nil, nil
	default:
		return nil, &auth.TokenError{Reason: auth.ReasonMalformed, Description: "token is malformed"}
	}
}

// testServer is a running Handler on loopback.
type testServer struct {
	*httptest.Server
	mcpURL string
	logs   *testenv.SyncBuffer
}

// testCtx is the context of one test's client calls (testenv.Context, 10s).
func testCtx(t *testing.T) context.Context { return testenv.Context(t, 10*time.Second) }

// newTestServer serves Handler(cfg) with PublicURL set to its own /mcp URL. Unset
// Verifier/RequiredScopes get fakeVerify and ["execute"].
func newTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	if cfg.Verifier == nil && !cfg.NoAuth {
		cfg.Verifier = fakeVerify
	}
	if cfg.RequiredScopes == nil {
		cfg.RequiredScopes = []string{"execute"}
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = base + "/mcp"
	}
	cfg.AuthorizationServers = []string{"https://login.example.com/tenant/v2.0"}
	logs := &testenv.SyncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := Handler(cfg)
	if err != nil {
		t.Fatalf("Handler: %v", err)
	}
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, mcpURL: base + "/mcp", logs: logs}
}

// progressLog records progress notifications in arrival order.
type progressLog struct {
	mu    sync.Mutex
	got   []mcp.ProgressNotificationParams
	first chan struct{}
	once  sync.Once
}

func newProgressLog() *progressLog { return &progressLog{first: make(chan struct{})} }

func (p *progressLog) handle(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	p.mu.Lock()
	p.got = append(p.got, *req.Params)
	p.mu.Unlock()
	p.once.Do(func() { close(p.first) })
}

func (p *progressLog) snapshot() []mcp.ProgressNotificationParams {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]mcp.ProgressNotificationParams(nil), p.got...)
}

// waitFor polls until n notifications arrived or the deadline passes.
func (p *progressLog) waitFor(n int, d time.Duration) []mcp.ProgressNotificationParams {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if got := p.snapshot(); len(got) >= n {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
	return p.snapshot()
}

// connectInMemory connects a client to s over in-memory transports and returns the client's
// session; both sessions close when the test ends.
func connectInMemory(t *testing.T, ctx context.Context, s *mcp.Server) *mcp.ClientSession {
	t.Helper()
	ct, st := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// connect opens an MCP client session on url with token (none when empty), speaking the
// 2025-11-25 protocol as the TypeScript SDK and the inspector do.
func connect(t *testing.T, ctx context.Context, url, token string, progress *progressLog) *mcp.ClientSession {
	t.Helper()
	rt := http.DefaultTransport
	if token != "" {
		rt = &httpx.BearerTransport{Token: token, Base: rt}
	}
	opts := &mcp.ClientOptions{}
	if progress != nil {
		opts.ProgressNotificationHandler = progress.handle
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, opts)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint:   url,
		HTTPClient: &http.Client{Transport: rt},
		MaxRetries: -1,
	}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}
