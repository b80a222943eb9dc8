// Package mcpserver is the MCP server of fastmcp-auth: the reverse_tool and
// random_number_tool tools, served over Streamable HTTP behind a bearer-token middleware that
// answers as [RFC 6750] and the MCP authorization specification require, with the protected
// resource metadata of [RFC 9728], a health check and a REST alternative (POST /reverse).
//
// Token verification itself is a [TokenVerifier] supplied by the caller (package auth); this
// package decides what the HTTP answer to each outcome is, and never logs, echoes or puts in an
// error the bearer token.
//
// [RFC 6750]: https://www.rfc-editor.org/rfc/rfc6750
// [RFC 9728]: https://www.rfc-editor.org/rfc/rfc9728
package mcpserver

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// TokenVerifier checks a bearer token and returns the verified caller. Failures should be
// *auth.TokenError values (wrapping auth.ErrInvalidToken), whose description is sent to the
// client; any other error is answered with a generic description and logged server side.
type TokenVerifier func(ctx context.Context, token string) (*auth.Identity, error)

// Config configures the MCP server and its HTTP handler. The zero value of every optional
// field is a sensible default.
type Config struct {
	// Verifier checks bearer tokens. Required unless NoAuth.
	Verifier TokenVerifier
	// NoAuth serves without any token check (development only; the command then listens on
	// loopback by default and warns).
	NoAuth bool
	// RequiredScopes must all be granted (scp/scope, or roles for app-only tokens). The
	// command applies the default ["execute"]; here an empty list requires no scope.
	RequiredScopes []string
	// ScopePrefix is the API's identifier URI (Entra's Application ID URI, such as
	// api://<api-client-id>). The metadata's scopes_supported and the scope="..." of every
	// challenge advertise <ScopePrefix>/<scope>, because MCP clients request exactly the
	// scopes advertised (spec "Scope Selection Strategy") and Entra resolves a bare name
	// against Microsoft Graph (AADSTS65001). Tokens are still matched on the short names,
	// which is what Entra puts in scp. Empty advertises the short names.
	ScopePrefix string
	// PublicURL is the URL clients use for the MCP endpoint, e.g. https://mcp.example.com/mcp.
	// It is the "resource" of the protected resource metadata, which clients compare with the
	// URL they called, so it cannot be derived from the listen address behind a proxy.
	PublicURL string
	// PublicURLFromRequest makes PublicURL a fallback: the metadata's "resource" and the
	// resource_metadata URL of challenges are built from each request's scheme and Host, so
	// that a client calling http://127.0.0.1:8000/mcp and one calling http://localhost:8000/mcp
	// each see the URL they used. serve sets it when --public-url is not given. It changes
	// no security decision: the audience check never looks at these URLs, and a spoofed Host
	// only alters the spoofer's own response.
	PublicURLFromRequest bool
	// Path is the MCP endpoint path; default "/mcp".
	Path string
	// AuthorizationServers are the issuers listed in the protected resource metadata.
	AuthorizationServers []string
	// Stateless serves without MCP sessions (several instances behind a load balancer
	// without sticky routing). Legacy clients then cannot cancel a running call.
	Stateless bool
	// ProgressInterval is the pause before each of the five progress steps of reverse_tool.
	ProgressInterval time.Duration
	// AllowedOrigins are the browser origins (scheme://host[:port]) allowed to call, besides
	// the origin of PublicURL itself.
	AllowedOrigins []string
	// SessionTimeout closes MCP sessions idle for this long; default 10 minutes. Negative
	// keeps idle sessions forever.
	SessionTimeout time.Duration
	// Logger receives one line per request and the server's warnings; nil discards them.
	Logger *slog.Logger
	// Extra, when set, mounts more routes on the handler's mux (the web console). Those routes
	// get the origin check, CORS, body limit and request log, but no token check.
	Extra func(mux *http.ServeMux)

	// onReverseEnd, for tests, is called when a reverse_tool call ends, with the error it
	// ended with (context.Canceled when it observed cancellation).
	onReverseEnd func(err error)
}

// Defaults applied by [Handler] and [NewServer].
const (
	DefaultPath           = "/mcp"
	DefaultSessionTimeout = 10 * time.Minute
	// MaxRequestBody is the largest request body accepted (413 beyond).
	MaxRequestBody = 1 << 20
	// MaxQuery is the largest reverse_tool query and /reverse input, in bytes.
	MaxQuery = 64 << 10
	// ProgressSteps is the number of progress notifications reverse_tool sends.
	ProgressSteps = 5
)

// serverName is the MCP implementation name announced in initialize.
const serverName = "fastmcp-auth"

// Version is announced as the MCP implementation version; the command sets it.
var Version = "dev"

// NewServer returns the MCP server with its two tools registered.
func NewServer(cfg Config) *mcp.Server {
	logger := cfg.Logger
	if logger == nil {
		logger = discardLogger()
	}
	s := mcp.NewServer(&mcp.Implementation{Name: serverName, Version: Version}, &mcp.ServerOptions{
		Instructions: "reverse_tool reverses text by user-perceived characters; random_number_tool draws an integer in [min, max].",
		Logger:       logger,
	})
	t := &tools{interval: cfg.ProgressInterval, logger: logger, onReverseEnd: cfg.onReverseEnd}
	t.register(s)
	return s
}

// discardLogger is the logger of a nil Config.Logger.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
