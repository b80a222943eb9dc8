package mcpclienttest

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
	"github.com/fastmcp-auth/fastmcp-auth/mcpserver"
)

// RealServer serves mcpserver.Handler, the server `fastmcp-auth serve` runs, on loopback until
// the test ends, and returns its MCP endpoint's URL. Every call needs the execute scope. Its
// verifier accepts each token of identities as that identity (expiring an hour after the
// call) and answers any other token as expired, so that the tests of clients talking to the
// real handler (mcpclient's, the proxy's) need no authority. interval is the handler's
// ProgressInterval; logger, if not nil, receives its log.
func RealServer(t testing.TB, identities map[string]auth.Identity, interval time.Duration, logger *slog.Logger) string {
	t.Helper()
	verify := func(_ context.Context, token string) (*auth.Identity, error) {
		id, ok := identities[token]
		if !ok {
			return nil, &auth.TokenError{Reason: auth.ReasonExpired, Description: "token expired at 2026-01-02T15:04:05Z"}
		}
		id.Expiry = time.Now().Add(time.Hour)
		return &id, nil
	}
	srv := testenv.ServeSelf(t, func(base string) (http.Handler, error) {
		return mcpserver.Handler(mcpserver.Config{
			Verifier:         verify,
			RequiredScopes:   []string{"execute"},
			PublicURL:        base + "/mcp",
			ProgressInterval: interval,
			Logger:           logger,
		})
	})
	return srv.URL + "/mcp"
}
