// Package mcpproxy relays the Model Context Protocol between a local stdio client (an MCP host
// such as Claude Desktop, VS Code or Cursor, which only start servers as child processes) and a
// remote server over Streamable HTTP, adding the bearer token the remote server requires.
//
// It is a raw JSON-RPC bridge: every message is passed on unchanged, in both directions, so
// initialize and capabilities, tools, resources, prompts, progress notifications (with numeric
// or string tokens), cancellation, list-changed notifications and requests from the server to
// the client all work without the proxy knowing them. What the bridge adds is what an HTTP hop
// needs and a stdio client cannot do for itself:
//
//   - the Authorization header, from an [auth.TokenSupply], refreshed once and retried on a 401;
//   - a JSON-RPC error answer, instead of a hang, to every request the remote server could not
//     answer (401, 403, unreachable, connection lost), with a message saying what to do;
//   - the MCP session: the Mcp-Session-Id and Mcp-Protocol-Version headers, the standalone GET
//     stream for server-initiated messages, and a transparent re-initialization (with the
//     client's own initialize parameters) when the remote server restarted and lost the session.
//
// Why raw rather than a go-sdk client joined to a go-sdk server: a typed bridge relays only what
// its types model, so fields, methods and protocol versions newer than the proxy would be
// dropped or refused, and the client would negotiate capabilities with the proxy instead of
// the server. Relaying the bytes keeps the client and the server talking to each other.
//
// stdout carries protocol messages only. The proxy never logs, or puts in an error, a token or
// an Authorization header: the token exists only in the header of the upstream request, logs
// name methods, statuses and reasons, and the errors it writes quote the server's Bearer
// challenge (error, error_description, scope), never a request header.
//
// Protocol: [MCP Streamable HTTP] upstream, the MCP stdio transport downstream, [JSON-RPC 2.0]
// for the error objects.
//
// [MCP Streamable HTTP]: https://modelcontextprotocol.io/specification/2025-11-25/basic/transports
// [JSON-RPC 2.0]: https://www.jsonrpc.org/specification
package mcpproxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/jsonrpc"
	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// Config configures [Run]. Only Server is required.
type Config struct {
	// Server is the remote MCP endpoint, e.g. https://mcp.example.com/mcp.
	Server string
	// Token supplies the bearer token; nil sends none (--no-auth). Its error text reaches the
	// client and the log, so it says what to do and never holds a token.
	Token *auth.TokenSupply
	// HTTPClient talks to the server; nil uses a client with a few idle connections per host.
	// It must have no overall Timeout: SSE streams stay open for as long as a tool runs.
	HTTPClient *http.Client
	// Logger receives the proxy's own logs (never on stdout); nil discards them.
	Logger *slog.Logger
	// ProgressGap is the least time between a progress notification and the next response
	// written to stdout; default 10ms, negative for none. The TypeScript SDK drops a final
	// progress notification that arrives in the same stdout chunk as the result (its
	// notification handlers run a microtask later, after the result removed the progress
	// handler), so the gap makes the two lines reach it in separate reads.
	ProgressGap time.Duration
	// ShutdownGrace is how long, once stdin is closed, in-flight requests may still finish and
	// have their answers written; default 3s.
	ShutdownGrace time.Duration
	// MaxLineLength bounds one message read from stdin; default 16 MiB.
	// A longer line stops the run with an error rather than making the proxy buffer
	// without bound.
	MaxLineLength int
}

// Defaults of [Config].
const (
	DefaultProgressGap   = 10 * time.Millisecond
	DefaultShutdownGrace = 3 * time.Second
	DefaultMaxLineLength = 16 << 20
)

// JSON-RPC error codes of the answers the proxy writes itself, in the range JSON-RPC reserves
// for implementation-defined server errors. The error's data object carries "httpStatus" and,
// from the WWW-Authenticate challenge, "error" and "scope" when present. They avoid -32001 to
// -32005, which the go-sdk's JSON-RPC layer uses itself (a Go client reads -32003 and -32004
// as "connection closed"), and -32002 and -32042, which MCP defines. Taking one of those would
// make a client misread an expired token as a dropped connection or a missing resource, and
// retry or give up where the message tells it to sign in.
const (
	// CodeUnauthorized: no usable token (401, or no token at all). The message says to run
	// fastmcp-auth login.
	CodeUnauthorized = jsonrpc.CodeUnauthorized
	// CodeForbidden: the token is valid but lacks a scope the server requires (403); the
	// message names the scope.
	CodeForbidden = jsonrpc.CodeForbidden
	// CodeUnreachable: the remote server could not be reached, or the connection was lost
	// before it answered. The proxy reconnects on the next request.
	CodeUnreachable = -32032
	// CodeUpstream: the remote server answered with another HTTP error.
	CodeUpstream = -32033
)

// Run relays messages between stdin/stdout (newline-delimited JSON-RPC, the MCP stdio
// transport) and the remote server until stdin is closed, then lets in-flight requests finish
// for ShutdownGrace, ends the remote session and returns nil. It returns ctx.Err() when ctx is
// cancelled first, and an error when stdin cannot be read.
func Run(ctx context.Context, cfg Config, stdin io.Reader, stdout io.Writer) error {
	if cfg.Server == "" {
		return errors.New("mcpproxy: Config.Server is required")
	}
	if _, err := netx.GuardAuthorization(nil, cfg.Server); err != nil {
		return fmt.Errorf("mcpproxy: Config.Server: %w", err)
	}
	p := newProxy(cfg, stdout)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.ctx = runCtx

	readDone := make(chan error, 1)
	go func() { readDone <- p.readLoop(runCtx, stdin) }()

	var err error
	select {
	case err = <-readDone:
		// stdin closed: the client is gone or done; let its last requests finish.
		idle := make(chan struct{})
		go func() { p.inflight.Wait(); close(idle) }()
		select {
		case <-idle:
		case <-time.After(p.cfg.ShutdownGrace):
			p.log.Warn("stdin closed; abandoning requests still in flight", "grace", p.cfg.ShutdownGrace)
		case <-ctx.Done():
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	cancel()
	// The standalone stream is closed, then a DELETE ends the session on the server now
	// rather than at its idle timeout.
	p.stopListening()
	p.endSession()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return err
}

// proxy is the state of one Run.
type proxy struct {
	cfg Config
	hc  *http.Client
	log *slog.Logger
	out *lineWriter
	ctx context.Context

	// inflight counts forward goroutines, so Run can wait for answers after stdin closes.
	inflight sync.WaitGroup

	mu         sync.Mutex
	sess       session
	initParams json.RawMessage // the client's initialize params, replayed on re-initialization
	cancelled  map[string]bool // requests the client cancelled: no error when their stream ends
	stopListen context.CancelFunc
	// reinitSeq numbers the proxy's own initialize requests, whose ids are prefixed
	// "fastmcp-auth-proxy-reinit-" to stay clear of the client's.
	reinitSeq int

	reinitMu sync.Mutex // one re-initialization at a time
}

// session is the upstream MCP session as of one moment; gen counts initializations, so that
// concurrent requests failing on the same lost session re-initialize it only once.
type session struct {
	// id is the Mcp-Session-Id ("" for a sessionless server); version the negotiated
	// protocol version, sent as Mcp-Protocol-Version.
	id      string
	version string
	gen     uint64
}

// newProxy fills the defaults of cfg. A ProgressGap of 0 means the default, a negative one
// no gap (lineWriter waits only when gap > 0).
func newProxy(cfg Config, stdout io.Writer) *proxy {
	if cfg.ProgressGap == 0 {
		cfg.ProgressGap = DefaultProgressGap
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = DefaultShutdownGrace
	}
	if cfg.MaxLineLength <= 0 {
		cfg.MaxLineLength = DefaultMaxLineLength
	}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// A tool call holds one connection for its SSE stream; keep enough idle ones that
		// concurrent requests do not open a new connection each time.
		tr.MaxIdleConnsPerHost = 16
		hc = &http.Client{Transport: tr}
	}
	// The token goes to the origin of cfg.Server and nowhere else (issue 10): a redirect to
	// another origin is refused, and any request to another origin loses its Authorization
	// header. A copy, so that the caller's client is left as it was.
	guarded := *hc
	guarded.CheckRedirect = netx.CheckRedirect
	if tr, err := netx.GuardAuthorization(hc.Transport, cfg.Server); err == nil {
		guarded.Transport = tr
	}
	hc = &guarded
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &proxy{
		cfg:       cfg,
		hc:        hc,
		log:       log,
		out:       &lineWriter{w: stdout, gap: cfg.ProgressGap},
		cancelled: map[string]bool{},
	}
}
