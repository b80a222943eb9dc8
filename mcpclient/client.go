// Package mcpclient is the MCP client of fastmcp-auth: it talks to an MCP server over
// Streamable HTTP (go-sdk) with a bearer token, and reports failures as typed errors the CLI
// maps to exit codes: *AuthError for 401 and 403 (with the WWW-Authenticate challenge
// parsed), *UnreachableError for connection, DNS and TLS failures. CallTool delivers every
// progress notification of the call before it returns, and on cancellation waits for the
// MCP notifications/cancelled to go out, so that the server stops the work.
package mcpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdkjsonrpc "github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/jsonrpc"
	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// ProtocolVersion is the MCP protocol version the client offers. Pinning the 2025-11-25
// handshake skips the go-sdk's draft server/discover probe, which a stateful server refuses,
// and so saves one round trip per connection.
const ProtocolVersion = "2025-11-25"

// Timeouts of the guarantees CallTool makes; they only matter when something is lost.
const (
	// progressDrainTimeout bounds the wait for progress notifications already read off the
	// wire to be dispatched after the result arrived.
	progressDrainTimeout = time.Second
	// cancelSendTimeout bounds the wait for notifications/cancelled to be delivered.
	cancelSendTimeout = 2 * time.Second
)

// Config configures a connection to an MCP server.
type Config struct {
	// Server is the MCP endpoint URL, e.g. http://localhost:8000/mcp.
	Server string
	// Token supplies the bearer token, refreshed as needed; nil sends no Authorization header
	// (--no-auth). [auth.StaticToken] wraps a fixed token.
	Token *auth.TokenSupply
	// HTTPClient carries the requests; nil means http.DefaultClient. Pass auth.NewHTTPClient
	// to trust --ca-file. It must have no overall Timeout: progress streams stay open.
	HTTPClient *http.Client
	// Logger receives debug logs (method, path, status; never headers); nil means slog.Default.
	Logger *slog.Logger
	// Version is the client version sent in initialize; "" means "dev".
	Version string
}

// Progress is one progress notification of a tool call.
type Progress struct {
	// Progress increases with each update.
	Progress float64
	// Total is the expected final Progress; 0 means unknown.
	Total float64
	// Message is the server's description of the current step.
	Message string
}

// Client is a connected MCP client session. Its methods may be called concurrently.
type Client struct {
	endpoint string
	session  *mcp.ClientSession
	watch    *watcher

	mu        sync.Mutex
	calls     map[string]*pendingCall
	delivered signal
}

// pendingCall tracks the progress of one CallTool: how many notifications were read off the
// wire for its token and how many were passed to onProgress.
type pendingCall struct {
	onProgress      func(Progress)
	seen, delivered int // guarded by Client.mu

	// deliverMu is held around each onProgress call and when the call ends, so that a
	// callback running late finishes before CallTool returns and none starts after.
	deliverMu sync.Mutex
	ended     bool
}

// callSeq numbers progress tokens; they are unique in the process.
var callSeq atomic.Uint64

// Connect opens an MCP session with the server (initialize handshake). A 401 or 403 comes
// back as *AuthError, an unreachable server as *UnreachableError.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Server == "" {
		return nil, errors.New("no MCP server URL given")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	hc := http.DefaultClient
	if cfg.HTTPClient != nil {
		hc = cfg.HTTPClient
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	// The token goes to the origin of cfg.Server and nowhere else (issue 10): Go's client
	// would keep Authorization on a redirect to the same host name on another port or scheme.
	// Redirects to another origin are refused, and the guard strips the header from any
	// request that still leaves the origin.
	guarded, err := netx.GuardAuthorization(base, cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("MCP server URL: %w", err)
	}
	c := &Client{endpoint: cfg.Server, calls: map[string]*pendingCall{}}
	c.watch = &watcher{base: guarded, logger: logger, onProgressSeen: c.progressSeen}
	httpClient := *hc
	httpClient.Transport = c.watch
	httpClient.CheckRedirect = netx.CheckRedirect

	version := cfg.Version
	if version == "" {
		version = "dev"
	}
	transport := &mcp.StreamableClientTransport{
		Endpoint:   cfg.Server,
		HTTPClient: &httpClient,
		// A command-line call needs no server-initiated messages outside its own requests,
		// and skipping the standing GET stream saves a request per run.
		DisableStandaloneSSE: true,
		// Resuming a broken stream needs an event store on the server, which ours do not
		// keep; failing at once gives the user a clear error instead of a long retry loop.
		MaxRetries:   -1,
		OAuthHandler: bearerAuth{tokens: cfg.Token},
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "fastmcp-auth", Version: version}, &mcp.ClientOptions{
		ProgressNotificationHandler: c.progressReceived,
	})
	session, err := client.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: ProtocolVersion})
	if err != nil {
		return nil, c.classify(ctx, err)
	}
	c.session = session
	return c, nil
}

// ListTools lists every tool of the server, following pagination.
func (c *Client) ListTools(ctx context.Context) ([]*mcp.Tool, error) {
	var tools []*mcp.Tool
	for tool, err := range c.session.Tools(ctx, nil) {
		if err != nil {
			return nil, c.classify(ctx, err)
		}
		tools = append(tools, tool)
	}
	return tools, nil
}

// CallTool calls a tool. When onProgress is not nil the call asks for progress, and
// onProgress receives each notification, in order, from one goroutine; every notification the
// server sent before its result is delivered before CallTool returns (the go-sdk alone may
// dispatch the last one after the result), and none is delivered after.
//
// When ctx is cancelled during the call, the go-sdk sends notifications/cancelled in the
// background; CallTool waits (up to a couple of seconds) until it has been delivered, so that
// the caller may exit right away and the server still stops the work. It then returns
// ctx.Err().
func (c *Client) CallTool(ctx context.Context, name string, args map[string]any, onProgress func(Progress)) (*mcp.CallToolResult, error) {
	params := &mcp.CallToolParams{Name: name, Arguments: args}
	if args == nil {
		params.Arguments = map[string]any{}
	}
	var token string
	var pc *pendingCall
	if onProgress != nil {
		token = "fastmcp-auth-" + strconv.FormatUint(callSeq.Add(1), 10)
		pc = &pendingCall{onProgress: onProgress}
		c.mu.Lock()
		c.calls[token] = pc
		c.mu.Unlock()
		// Set through Meta: the SDK's SetProgressToken panics on numeric tokens, and a plain
		// map keeps this code uniform with the proxy's forwarding.
		params.Meta = mcp.Meta{"progressToken": token}
	}
	cancelsBefore, _ := c.watch.cancels.count()

	res, err := c.session.CallTool(ctx, params)

	if ctx.Err() != nil {
		c.watch.cancels.waitUntil(func() bool {
			n, _ := c.watch.cancels.count()
			return n > cancelsBefore
		}, cancelSendTimeout)
	} else if pc != nil {
		c.delivered.waitUntil(func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return pc.delivered >= pc.seen
		}, progressDrainTimeout)
	}
	if pc != nil {
		c.mu.Lock()
		delete(c.calls, token)
		c.mu.Unlock()
		pc.deliverMu.Lock()
		pc.ended = true
		pc.deliverMu.Unlock()
	}
	if err != nil {
		return nil, c.classify(ctx, err)
	}
	return res, nil
}

// Close ends the session (an HTTP DELETE, bounded by the go-sdk).
func (c *Client) Close() error {
	return c.session.Close()
}

// progressSeen is called by the transport when a progress notification is read off the wire.
func (c *Client) progressSeen(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pc := c.calls[token]; pc != nil {
		pc.seen++
	}
}

// progressReceived is the go-sdk's progress handler; it runs on the session's single
// notification goroutine, in the order the notifications arrived.
func (c *Client) progressReceived(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	if req == nil || req.Params == nil {
		return
	}
	token, ok := req.Params.ProgressToken.(string)
	if !ok {
		return
	}
	c.mu.Lock()
	pc := c.calls[token]
	c.mu.Unlock()
	if pc == nil {
		return // a late notification of a call that has returned: dropped by design
	}
	pc.deliverMu.Lock()
	if !pc.ended {
		pc.onProgress(Progress{Progress: req.Params.Progress, Total: req.Params.Total, Message: req.Params.Message})
	}
	pc.deliverMu.Unlock()
	c.mu.Lock()
	pc.delivered++
	c.mu.Unlock()
	c.delivered.bump()
}

// classify turns a go-sdk error into the typed errors of this package.
func (c *Client) classify(ctx context.Context, err error) error {
	var ae *AuthError
	var te *tokenError
	var we *sdkjsonrpc.Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &we) && (we.Code == jsonrpc.CodeUnauthorized || we.Code == jsonrpc.CodeForbidden):
		return &UpstreamAuthError{URL: redactURL(c.endpoint), Code: we.Code, Message: we.Message}
	case errors.As(err, &te):
		// The sign-in's own error (auth.ErrNotSignedIn, an unreachable authority): it says
		// what to do, and the server was never asked.
		return te.err
	case c.watch.lastAuth.Load() != nil && strings.Contains(err.Error(), http.StatusText(c.watch.lastAuth.Load().Status)):
		// The retry after a refreshed token was refused too: the SDK calls the OAuthHandler
		// once only and reports the second answer by its status text.
		return c.watch.lastAuth.Load()
	case ctx.Err() != nil:
		return ctx.Err()
	case c.watch.notFound.Load():
		return &UnreachableError{URL: redactURL(c.endpoint), Err: errEndpointNotFound}
	case errors.Is(err, netx.ErrCrossOriginRedirect):
		return fmt.Errorf("mcp server %s: %w", redactURL(c.endpoint), err)
	case auth.IsUnreachable(err):
		return unreachable(c.endpoint, err)
	case strings.Contains(err.Error(), sdkStreamEnded), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// The server closed the call's stream before answering: it was stopped (its
		// shutdown timeout cut the call) or the connection broke. To the user that is a
		// server gone away, exit 4, not a tool failure.
		return &UnreachableError{URL: redactURL(c.endpoint), Err: ErrConnectionLost}
	}
	// Anything else (a 405 or 500 from something that is not an MCP endpoint, a protocol
	// error) still gets the hint of what to check, as every CLI error must.
	return fmt.Errorf("mcp server %s: %w: check that --server is the URL of an MCP endpoint and look at the server's log",
		redactURL(c.endpoint), err)
}
