// Package gateway puts fastmcp-auth's Streamable HTTP endpoint (and so its Entra token check,
// metadata, Origin check and limits, applied by package mcpserver around it) in front of an
// MCP server that has none: a stdio server run as a child process (one per MCP session
// ([Command]), one for all ([Shared]) or one per user ([PerUser], with the user's On-Behalf-Of
// token in its environment if asked)), or a Streamable HTTP server reached with the gateway's
// own credentials.
//
// It is a JSON-RPC relay, not an MCP server: every message passes unchanged in both
// directions (tools, resources, prompts, completion, logging, progress, cancellation,
// sampling, elicitation, roots, list-changed notifications), so the client negotiates its
// protocol version and capabilities with the upstream server itself, and fields newer than
// the gateway survive. What the gateway adds:
//
//   - MCP sessions on the client side (Mcp-Session-Id, bound to the user who created them),
//     each with its own upstream, bounded in number and ended when idle;
//   - the routing of the upstream's messages to the client's streams: answers to the POST of
//     their request, progress to the stream of the call that gave the token, other requests
//     and notifications to the latest call in flight, else to the standalone GET stream;
//   - the per-tool policy (package policy): denied tools, prompts and resources are removed
//     from lists, and calling one is answered exactly as for a name the upstream lacks.
//
// Why a raw relay rather than the go-sdk's typed server joined to a typed client: a typed
// bridge relays only what its types model and answers capabilities itself. The go-sdk's own
// StreamableServerTransport could carry raw messages, but it routes a server message to the
// stream of the request that caused it only through an unexported context key, so progress
// and sampling would land on the standalone stream, out of order with the answer. (Compare
// ToolHive's pkg/transport, which also relays JSON-RPC between HTTP and a container's stdio.)
//
// Protocol: [MCP Streamable HTTP].
//
// [MCP Streamable HTTP]: https://modelcontextprotocol.io/specification/2025-11-25/basic/transports
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/policy"
)

// Upstream is one session's connection to the upstream MCP server.
type Upstream interface {
	// Send writes one JSON-RPC message (a single line of JSON) to the server.
	Send(msg []byte) error
	// Close ends the connection: for a child process, closes its stdin, then terminates and
	// finally kills its process group. It returns when the upstream is gone.
	Close() error
}

// SessionInfo tells a [Dialer] which session it serves.
type SessionInfo struct {
	// ID is the full session ID; Short, a prefix of it for logs.
	ID, Short string
	// Logger receives the upstream's logs (a child's stderr), tagged with the session.
	Logger *slog.Logger
	// Identity is the verified user who started the session (nil without auth).
	Identity *auth.Identity
	// UserToken, set when the gateway exchanges tokens (Config.OBO), returns the session
	// user's On-Behalf-Of token for the upstream; force asks for a fresh exchange (after an
	// upstream 401). It fails with ErrNoAssertion when the user's newest token has expired.
	UserToken func(ctx context.Context, force bool) (*auth.Token, error)
	// Env, "NAME=value" entries, is added to a child's environment (replacing variables of
	// the same names): the per-user upstream's On-Behalf-Of token (--obo-token-env). It is
	// kept out of every log line.
	Env []string
}

// Dialer starts the upstream of a new session. recv receives each message of the server (it
// may be called before Dial returns, never concurrently); exited is called once if the
// upstream ends by itself (a child exits), with why.
type Dialer func(ctx context.Context, info SessionInfo, recv func(msg []byte), exited func(err error)) (Upstream, error)

// Event is a tool call or a denial, for the audit trail and metrics.
type Event struct {
	Time     time.Time
	Event    string // "call" or "deny"
	Kind     policy.Kind
	Identity *auth.Identity // nil without auth
	Name     string         // tool or prompt name, resource URI
	Rule     string         // index of the deciding rule, "none", or "" without a policy
	Allowed  bool
	Duration time.Duration
	Outcome  string // "ok", "error", "denied"
	Args     map[string]any
}

// Config configures [New]. Dial is required.
type Config struct {
	// Dial starts one upstream per session.
	Dial Dialer
	// MaxSessions bounds the sessions (and so the child processes); beyond it initialize
	// gets 503 with Retry-After. 0 means DefaultMaxSessions.
	MaxSessions int
	// IdleTimeout ends a session with no call in flight and no request for this long.
	// 0 means DefaultIdleTimeout; negative never.
	IdleTimeout time.Duration
	// ReplicaID, when set, starts every session ID ("<replica>.<random>"), so a load
	// balancer can route a session's requests to the replica that holds it.
	ReplicaID string
	// Policy returns the policy in force (it may change on reload); nil allows everything.
	Policy func() *policy.Policy
	// Identity returns the verified caller of a request (nil without auth).
	Identity func(ctx context.Context) *auth.Identity
	// OnEvent, when set, receives every tool call and denial. It must not block.
	OnEvent func(Event)
	// OnSessions, when set, is called with the number of live sessions when it changes.
	OnSessions func(n int)
	// Logger; nil discards.
	Logger *slog.Logger
	// OBO, when set, exchanges the caller's token for the upstream's (On-Behalf-Of): the
	// gateway keeps each user's newest verified token and hands SessionInfo.UserToken to
	// the Dialer. The caller's own token is never sent upstream.
	OBO TokenExchange
}

// Defaults of [Config].
const (
	DefaultMaxSessions = 100
	DefaultIdleTimeout = 15 * time.Minute
	// retryAfter is the Retry-After of a 503 at MaxSessions: sessions end when idle or
	// closed, so a retry some seconds later may find room.
	retryAfter = 30
	// maxBody bounds a POST body; package mcpserver applies its own (smaller) limit first.
	maxBody = 4 << 20
)

// Gateway is the MCP endpoint handler. Close it to end every session and its upstream.
type Gateway struct {
	cfg    Config
	logger *slog.Logger

	assertions assertions // each user's newest token, with OBO

	mu       sync.Mutex
	sessions map[string]*session
	starting int
	closed   bool
	stop     chan struct{}
	reaped   sync.WaitGroup // the reaper loop, and the sessions it is ending
}

// New returns a gateway; it starts the idle reaper.
func New(cfg Config) (*Gateway, error) {
	if cfg.Dial == nil {
		return nil, errors.New("gateway: Config.Dial is required")
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if strings.ContainsAny(cfg.ReplicaID, " .\t\r\n/\"") {
		return nil, fmt.Errorf("gateway: a replica ID is letters, digits, - and _ only, not %q", cfg.ReplicaID)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{cfg: cfg, logger: logger, sessions: map[string]*session{}, stop: make(chan struct{})}
	g.assertions.now = time.Now
	if cfg.IdleTimeout > 0 {
		g.reaped.Add(1)
		go g.reap()
	}
	return g, nil
}

// Sessions returns the number of live sessions.
func (g *Gateway) Sessions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.sessions)
}

// errFull: MaxSessions reached.
var errFull = errors.New("too many sessions")

// errClosed: the gateway is shutting down.
var errClosed = errors.New("the gateway is shutting down")

func (g *Gateway) policy() *policy.Policy {
	if g.cfg.Policy == nil {
		return nil
	}
	return g.cfg.Policy()
}

// claims returns the claims a policy sees for id.
func (g *Gateway) claims(id *auth.Identity) map[string]any {
	if id == nil {
		return map[string]any{}
	}
	c, err := policy.Claims(id.Claims)
	if err != nil {
		g.logger.Warn("the token's claims could not be read for the policy", "subject", id.User(), "err", err)
		return map[string]any{}
	}
	return c
}

func (g *Gateway) identity(r *http.Request) *auth.Identity {
	if g.cfg.Identity == nil {
		return nil
	}
	return g.cfg.Identity(r.Context())
}

// ownerOf is who a session belongs to: tenant and object ID (or subject).
func ownerOf(id *auth.Identity) string {
	if id == nil {
		return ""
	}
	return id.TenantID + "/" + id.User()
}
