package mcpserver

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/auth/authtest"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// BenchmarkHandlerCallTool measures the server side of one tools/call of reverse_tool (five
// progress notifications, progress interval 0) on an initialized session, through the whole
// Handler (request log, origin check, body limit, bearer middleware, streamable transport),
// without a network or client in the way: requests go straight to ServeHTTP. The sub-benchmarks
// compare no auth with the real auth.Verifier (RS256 token, loopback key set), with its cache
// of verified tokens and without it, so the cost that auth adds to a call is their difference.
// The log goes through a text handler to io.Discard, so formatting the request line counts as
// it does in `serve`. Besides ns/op it reports cpu-ns/op, the process CPU time per call.
func BenchmarkHandlerCallTool(b *testing.B) {
	key := authtest.NewKey(b, "bench-kid")
	jwks := authtest.NewJWKSServer(b, key)
	const issuer, aud = "https://login.example.com/tenant/v2.0", "api://bench"
	token := authtest.Mint(b, key, authtest.EntraV2Claims("tenant", issuer, aud, "execute"))

	newVerifier := func(b *testing.B, cacheSize int) TokenVerifier {
		v, err := auth.NewVerifier(context.Background(), auth.VerifierConfig{
			JWKSURI: jwks.URL, Issuers: []string{issuer}, Audiences: []string{aud}, ClockSkew: time.Minute,
			CacheSize: cacheSize,
		})
		if err != nil {
			b.Fatalf("NewVerifier: %v", err)
		}
		b.Cleanup(v.Close)
		return v.Verify
	}
	for _, bc := range []struct {
		name      string
		noAuth    bool
		cacheSize int
	}{
		{name: "no-auth", noAuth: true},
		{name: "auth", cacheSize: 0},
		{name: "auth-no-cache", cacheSize: -1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := Config{
				NoAuth: bc.noAuth, RequiredScopes: []string{"execute"},
				PublicURL: "http://127.0.0.1:8000/mcp",
				Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			}
			bearer := ""
			if !bc.noAuth {
				cfg.Verifier = newVerifier(b, bc.cacheSize)
				bearer = token
			}
			h, err := Handler(cfg)
			if err != nil {
				b.Fatalf("Handler: %v", err)
			}
			sid := benchInitialize(b, h, bearer)
			b.ReportAllocs()
			cpu0 := testenv.ProcessCPU()
			n := 0
			for i := 0; b.Loop(); i++ {
				n++
				body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"hello, load"},"_meta":{"progressToken":"p%d"}}}`, i+10, i)
				rec := benchPost(h, bearer, sid, body)
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "reversed_query") {
					b.Fatalf("tools/call: status %d, body %.300s", rec.Code, rec.Body.String())
				}
			}
			b.ReportMetric(float64(testenv.ProcessCPU()-cpu0)/float64(n), "cpu-ns/op")
		})
	}
}

// benchPost sends one JSON-RPC message to h as a client would and returns the recorded answer.
func benchPost(h http.Handler, bearer, sid, body string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, benchRequest(bearer, sid, body))
	return rec
}

// benchRequest is the POST of body to the MCP endpoint as a client in session sid sends it.
func benchRequest(bearer, sid, body string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8000/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	return req
}

// benchInitialize opens an MCP session on h and returns its ID.
func benchInitialize(b testing.TB, h http.Handler, bearer string) string {
	b.Helper()
	rec := benchPost(h, bearer, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`)
	sid := rec.Header().Get("Mcp-Session-Id")
	if rec.Code != http.StatusOK || sid == "" {
		b.Fatalf("initialize: status %d, body %.300s", rec.Code, rec.Body.String())
	}
	if rec := benchPost(h, bearer, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); rec.Code != http.StatusAccepted {
		b.Fatalf("initialized: status %d, body %.300s", rec.Code, rec.Body.String())
	}
	return sid
}
