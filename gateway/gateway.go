// Package gateway puts fastmcp-auth's Streamable HTTP endpoint (and so its Entra token check,
// metadata, Origin check and limits, applied by package mcpserver around it) in front of an
// MCP server that has none: a stdio server run as a child process, one per MCP session, or a
// Streamable HTTP server reached with the gateway's own credentials.
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
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/jsonrpc"
	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
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

// Close ends every session (each child gets its stdin closed, then SIGTERM, then SIGKILL)
// and refuses new ones. It returns once every upstream is gone.
func (g *Gateway) Close() {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return
	}
	g.closed = true
	close(g.stop)
	all := make([]*session, 0, len(g.sessions))
	for _, s := range g.sessions {
		all = append(all, s)
	}
	clear(g.sessions)
	g.mu.Unlock()
	g.reaped.Wait()
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.end("the gateway is shutting down: the session has ended")
		}()
	}
	wg.Wait()
	g.notifySessions()
}

// reap ends idle sessions.
func (g *Gateway) reap() {
	defer g.reaped.Done()
	every := min(g.cfg.IdleTimeout/4, 30*time.Second)
	every = max(every, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-g.cfg.IdleTimeout)
		g.mu.Lock()
		var idle []*session
		for id, s := range g.sessions {
			if s.idleSince(cutoff) {
				idle = append(idle, s)
				delete(g.sessions, id)
			}
		}
		g.mu.Unlock()
		for _, s := range idle {
			g.logger.Info("session idle: ending it", "session", s.short, "idle_timeout", g.cfg.IdleTimeout)
			g.reaped.Add(1)
			go func() {
				defer g.reaped.Done()
				s.end("the session was idle for too long and has ended")
			}()
		}
		if len(idle) > 0 {
			g.notifySessions()
		}
	}
}

func (g *Gateway) notifySessions() {
	if g.cfg.OnSessions != nil {
		g.cfg.OnSessions(g.Sessions())
	}
}

// errFull: MaxSessions reached.
var errFull = errors.New("too many sessions")

// errClosed: the gateway is shutting down.
var errClosed = errors.New("the gateway is shutting down")

// newSession starts a session and its upstream for owner.
func (g *Gateway) newSession(ctx context.Context, owner string, creator *auth.Identity) (*session, error) {
	g.mu.Lock()
	switch {
	case g.closed:
		g.mu.Unlock()
		return nil, errClosed
	case len(g.sessions)+g.starting >= g.cfg.MaxSessions:
		g.mu.Unlock()
		return nil, errFull
	}
	g.starting++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.starting--
		g.mu.Unlock()
	}()

	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	id := hex.EncodeToString(rnd[:])
	if g.cfg.ReplicaID != "" {
		id = g.cfg.ReplicaID + "." + id
	}
	short := hex.EncodeToString(rnd[:4])
	s := &session{
		id: id, short: short, owner: owner, g: g,
		logger:  g.logger,
		pending: map[string]*call{}, progress: map[string]*stream{},
		lastActive: time.Now(),
		endedCh:    make(chan struct{}),
	}
	info := SessionInfo{ID: id, Short: short, Logger: g.logger.With("session", short), Identity: creator, UserToken: g.userToken(owner)}
	var upMu sync.Mutex // orders exited after the assignment of s.up
	upMu.Lock()
	up, err := g.cfg.Dial(context.WithoutCancel(ctx), info, s.fromUpstream, func(err error) {
		upMu.Lock()
		defer upMu.Unlock()
		reason := "the upstream MCP server exited"
		if err != nil {
			reason += " (" + err.Error() + ")"
		}
		reason += ": this session has ended; start a new session (initialize)"
		g.logger.Warn("upstream ended", "session", short, "err", err)
		g.remove(s)
		s.end(reason)
	})
	if err != nil {
		upMu.Unlock()
		return nil, err
	}
	s.up = up
	upMu.Unlock()

	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		s.end("the gateway is shutting down")
		return nil, errClosed
	}
	g.sessions[id] = s
	g.mu.Unlock()
	g.logger.Info("session started", "session", short, "subject", owner)
	g.notifySessions()
	return s, nil
}

// remove forgets s (it is ended by the caller).
func (g *Gateway) remove(s *session) {
	g.mu.Lock()
	_, ok := g.sessions[s.id]
	if ok {
		delete(g.sessions, s.id)
	}
	g.mu.Unlock()
	if ok {
		g.notifySessions()
	}
}

func (g *Gateway) lookup(id string) *session {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sessions[id]
}

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

const headerSessionID = "Mcp-Session-Id"

// ServeHTTP serves the MCP endpoint: POST (messages), GET (the standalone stream), DELETE
// (end the session).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if refuseRebinding(w, r, g.logger) {
		return
	}
	g.noteAssertion(r)
	switch r.Method {
	case http.MethodPost:
		g.post(w, r)
	case http.MethodGet:
		g.get(w, r)
	case http.MethodDelete:
		g.delete(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		httpError(w, http.StatusMethodNotAllowed, codeInvalidRequest, "the MCP endpoint takes POST, GET and DELETE")
	}
}

// refuseRebinding answers 403 and reports true for a request that reached a loopback address
// with a foreign Host. DNS rebinding: a page of another site, its name re-pointed at
// 127.0.0.1, reaches a gateway listening on loopback with its own name in Host. The go-sdk
// handler refuses such requests (its localhost protection); the gateway replaces that
// handler, so it does too.
func refuseRebinding(w http.ResponseWriter, r *http.Request, logger *slog.Logger) bool {
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || !netx.IsLoopbackHost(la.String()) || netx.IsLoopbackHost(r.Host) {
		return false
	}
	logger.Warn("request to a loopback address with a foreign Host refused (DNS rebinding)")
	httpError(w, http.StatusForbidden, codeInvalidRequest, "invalid Host header for a server on loopback")
	return true
}

// httpError answers with a JSON-RPC error object (id null) and status.
func httpError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(errorResponse(nil, code, msg, nil))
}

// session finds the session of a request, answering 400, 404 or 403 itself when it cannot.
func (g *Gateway) session(w http.ResponseWriter, r *http.Request) *session {
	sid := r.Header.Get(headerSessionID)
	if sid == "" {
		httpError(w, http.StatusBadRequest, codeInvalidRequest, "Mcp-Session-Id is required: send initialize first to start a session")
		return nil
	}
	s := g.lookup(sid)
	if s == nil {
		// 404 tells a client to start a new session (MCP transports, session management).
		httpError(w, http.StatusNotFound, codeInvalidRequest, "session not found: it ended or never existed; send initialize to start a new one")
		return nil
	}
	// A session belongs to the user who started it: a stolen session ID is useless
	// without that user's token (go-sdk does the same, TestSessionHijackingPrevention).
	if s.owner != ownerOf(g.identity(r)) {
		g.logger.Warn("session used by another user: refused", "session", s.short)
		httpError(w, http.StatusForbidden, codeInvalidRequest, "this session belongs to another user")
		return nil
	}
	return s
}

func (g *Gateway) post(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpError(w, http.StatusRequestEntityTooLarge, codeInvalidRequest, "the request body is too large")
			return
		}
		httpError(w, http.StatusBadRequest, codeInvalidRequest, "could not read the request body")
		return
	}
	raws, err := splitBody(body)
	if err != nil {
		httpError(w, http.StatusBadRequest, codeParseError, "the body is not a JSON-RPC message: "+err.Error())
		return
	}
	msgs := make([]*message, len(raws))
	requests, initialize := 0, false
	for i, raw := range raws {
		m, err := jsonrpc.Parse(raw)
		if err != nil {
			httpError(w, http.StatusBadRequest, codeInvalidRequest, "not a JSON-RPC message: "+err.Error())
			return
		}
		msgs[i] = m
		if m.IsRequest() {
			requests++
		}
		if m.Method == methodInitialize {
			initialize = true
		}
	}
	// The identity of this request (not the session's creator): policies see the token the
	// caller holds now, so a role removed at the next sign-in takes effect at once.
	id := g.identity(r)
	var s *session
	if initialize {
		if len(msgs) != 1 || !msgs[0].IsRequest() {
			httpError(w, http.StatusBadRequest, codeInvalidRequest, "initialize must be sent alone, as a request")
			return
		}
		if r.Header.Get(headerSessionID) != "" {
			httpError(w, http.StatusBadRequest, codeInvalidRequest, "initialize starts a session: send it without Mcp-Session-Id")
			return
		}
		s, err = g.newSession(r.Context(), ownerOf(id), id)
		var tokenErr *TokenError
		switch {
		case errors.Is(err, errFull):
			g.logger.Warn("session refused: --max-sessions reached", "max_sessions", g.cfg.MaxSessions)
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
			httpError(w, http.StatusServiceUnavailable, CodeUpstreamUnavailable, fmt.Sprintf("the gateway has its maximum of %d sessions: retry later", g.cfg.MaxSessions))
			return
		case errors.Is(err, errClosed):
			w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
			httpError(w, http.StatusServiceUnavailable, CodeUpstreamUnavailable, "the gateway is shutting down")
			return
		case errors.As(err, &tokenErr):
			// The user must act (consent, MFA, sign in again): tell them, as the answer to
			// their initialize, rather than a 502 that only points at the gateway's log.
			g.logger.Warn("upstream not started: no On-Behalf-Of token for the user", "subject", ownerOf(id), "err", err)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(errorResponse(msgs[0].ID, CodeTokenUnavailable, tokenErr.Error(), nil))
			return
		case err != nil:
			g.logger.Error("could not start the upstream", "err", err)
			httpError(w, http.StatusBadGateway, CodeUpstreamUnavailable, "could not start the upstream MCP server: see the gateway's log")
			return
		}
		w.Header().Set(headerSessionID, s.id)
	} else if s = g.session(w, r); s == nil {
		return
	}
	s.touch()

	// Only notifications and answers: nothing will come back on this POST, so it is 202
	// Accepted at once (MCP transports, "Sending Messages to the Server").
	if requests == 0 {
		for i, m := range msgs {
			s.fromClient(raws[i], m, nil, id)
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	// Requests: always an event stream, never a single JSON body, so that progress and the
	// server's own requests (sampling, elicitation) made while a call runs reach the client on
	// the same stream, before the answer (a JSON answer would push them to the GET stream,
	// which a client may not hold, and out of order).
	st := newStream(requests)
	for i, m := range msgs {
		s.fromClient(raws[i], m, st, id)
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: stream the events, do not buffer them
	st.run(r.Context(), w)
}

func (g *Gateway) get(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		httpError(w, http.StatusNotAcceptable, codeInvalidRequest, "GET opens an event stream: send Accept: text/event-stream")
		return
	}
	s := g.session(w, r)
	if s == nil {
		return
	}
	// The standalone stream carries what no call claims; a newer GET replaces an older one
	// (a client reconnecting), so there is at most one per session.
	st := newStream(-1)
	s.listen(st)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("X-Accel-Buffering", "no")
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-s.done():
			st.close()
		case <-ctx.Done():
		}
	}()
	st.run(ctx, w)
}

func (g *Gateway) delete(w http.ResponseWriter, r *http.Request) {
	s := g.session(w, r)
	if s == nil {
		return
	}
	g.remove(s)
	g.logger.Info("session closed by the client", "session", s.short)
	s.end("the session was closed by the client")
	w.WriteHeader(http.StatusNoContent)
}

// answered delivers the upstream's answer to c, after filtering a list or normalizing an
// unknown-tool answer, and records tool calls.
func (g *Gateway) answered(s *session, c *call, m *message, raw []byte) {
	short := "stateless"
	if s != nil {
		short = s.short
	}
	out := raw
	switch c.method {
	case methodToolsList, methodPromptsList, methodResourcesList, methodTemplatesList:
		if pol := g.policy(); pol != nil && len(m.Result) > 0 {
			if filtered, err := filterList(pol, c, m); err != nil {
				// Fail closed: an answer that cannot be filtered is not shown.
				g.logger.Warn("could not filter a list answer; answering an error", "session", short, "method", c.method, "err", err)
				out = errorResponse(c.id, -32603, "the upstream's list could not be read", nil)
			} else {
				out = filtered
			}
		}
	case methodToolsCall:
		outcome := "ok"
		if unknownToolAnswer(m, c.name) {
			out = notFound(c.id, policy.Tool, c.name)
			outcome = "error"
		} else if len(m.Error) > 0 || isErrorResult(m.Result) {
			outcome = "error"
		}
		g.event(Event{Event: "call", Kind: policy.Tool, Identity: c.identity, Name: c.name, Rule: c.rule, Allowed: true,
			Duration: time.Since(c.start), Outcome: outcome, Args: c.args})
	}
	if !c.stream.push(out, true) {
		g.logger.Debug("the client left before the answer", "session", short, "method", c.method)
	}
}

// denied records a denial.
func (g *Gateway) denied(_ *session, c *call) {
	kind := policy.Tool
	switch c.method {
	case methodPromptsGet:
		kind = policy.Prompt
	case methodResourcesRead, methodSubscribe, methodUnsubscribe:
		kind = policy.Resource
	}
	g.event(Event{Event: "deny", Kind: kind, Identity: c.identity, Name: c.name, Rule: c.rule, Outcome: "denied", Args: c.args})
}

// ended records a tool call cut short by the end of its session.
func (g *Gateway) ended(_ *session, c *call) {
	if c.method == methodToolsCall {
		g.event(Event{Event: "call", Kind: policy.Tool, Identity: c.identity, Name: c.name, Rule: c.rule, Allowed: true,
			Duration: time.Since(c.start), Outcome: "error", Args: c.args})
	}
}

func (g *Gateway) event(e Event) {
	if g.cfg.OnEvent == nil {
		return
	}
	e.Time = time.Now()
	if g.policy() == nil {
		e.Rule = ""
	}
	g.cfg.OnEvent(e)
}

func isErrorResult(result json.RawMessage) bool {
	var r struct {
		IsError bool `json:"isError"`
	}
	return json.Unmarshal(result, &r) == nil && r.IsError
}

// filterList removes from a list answer the items the caller's policy denies.
func filterList(pol *policy.Policy, c *call, m *message) ([]byte, error) {
	var field, key string
	kind := policy.Tool
	switch c.method {
	case methodToolsList:
		field, key = "tools", "name"
	case methodPromptsList:
		field, key, kind = "prompts", "name", policy.Prompt
	case methodResourcesList:
		field, key, kind = "resources", "uri", policy.Resource
	default:
		field, key, kind = "resourceTemplates", "uriTemplate", policy.Resource
	}
	var result map[string]json.RawMessage
	if err := json.Unmarshal(m.Result, &result); err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if raw, ok := result[field]; ok {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
	}
	kept := make([]json.RawMessage, 0, len(items))
	for _, it := range items {
		var named map[string]json.RawMessage
		if err := json.Unmarshal(it, &named); err != nil {
			return nil, err
		}
		var name string
		_ = json.Unmarshal(named[key], &name)
		if pol.Decide(policy.Input{Kind: kind, Name: name, Claims: c.claims, List: true}).Allow {
			kept = append(kept, it)
		}
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return nil, err
	}
	result[field] = b
	return json.Marshal(struct {
		JSONRPC string                     `json:"jsonrpc"`
		ID      json.RawMessage            `json:"id"`
		Result  map[string]json.RawMessage `json:"result"`
	}{"2.0", c.id, result})
}
