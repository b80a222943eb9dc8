package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/fastmcp-auth/fastmcp-auth/internal/jsonrpc"
)

// Shared runs one upstream for every session (--shared-upstream), for servers that are
// expensive to start. The sessions' JSON-RPC IDs and progress tokens are rewritten to be
// unique on the shared connection ("<session>~<n>") and restored on the way back. The first
// initialize starts and initializes the upstream; later sessions get its answer without
// reaching it. A request of the server (sampling, elicitation, roots) goes to the session
// with a call in flight when there is exactly one; with none or several it cannot be told
// which call caused it, so it is refused with a JSON-RPC error to the server. Notifications no
// call caused (list-changed, resource updates, log messages) go to every session.
//
// What sessions share: the upstream's state, and the capabilities the first client announced.
type Shared struct {
	dial   Dialer
	logger *slog.Logger
	info   SessionInfo // what the upstream's Dialer is told (no user: it serves them all)

	restartMu sync.Mutex // one Restart at a time

	mu         sync.Mutex
	up         Upstream
	gen        uint64 // generation of up: messages and exits of a replaced process are ignored
	nextGen    uint64
	closed     bool            // Close was called: no process is started any more
	oneUser    bool            // every session is one user's (PerUser): see newest
	initParams json.RawMessage // the first client's initialize params, replayed by Restart
	starting   chan struct{}   // closed when a start attempt ends
	// initResult is the upstream's answer to the first initialize: every later session gets
	// it without reaching the upstream, which MCP lets initialize only once.
	initResult json.RawMessage
	initWait   chan struct{} // closed once initResult is known (or the upstream ended)
	initID     string        // rewritten id of the initialize in flight
	initSent   bool          // notifications/initialized went upstream
	sessions   map[*sharedSession]bool
	// The rewriting tables. Every entry names its session, so that a session's Close can
	// drop its own entries and no answer is delivered to a session that left.
	pending    map[string]sharedPending  // rewritten id -> origin
	byOrigin   map[string]string         // session + original id -> rewritten id
	tokens     map[string]sharedPending  // rewritten progress token -> origin
	serverReqs map[string]*sharedSession // server request id -> the session asked
	next       uint64                    // counter of rewritten ids, unique per Shared
	replay     replayState               // what Restart sends the new process again
}

// sharedPending is where a rewritten id or progress token came from: the session and the
// value its client chose, restored on the way back.
type sharedPending struct {
	s    *sharedSession
	orig json.RawMessage
}

// NewShared multiplexes the sessions over one upstream started with dial.
func NewShared(dial Dialer, logger *slog.Logger) *Shared {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return newShared(dial, logger, SessionInfo{ID: "shared", Short: "shared", Logger: logger.With("session", "shared")})
}

// newShared is NewShared with the SessionInfo its Dialer gets (PerUser names the user).
func newShared(dial Dialer, logger *slog.Logger, info SessionInfo) *Shared {
	return &Shared{dial: dial, logger: logger, info: info, sessions: map[*sharedSession]bool{}, pending: map[string]sharedPending{},
		byOrigin: map[string]string{}, tokens: map[string]sharedPending{}, serverReqs: map[string]*sharedSession{}}
}

// sharedSession is one session's view of the shared upstream; it is the session's Upstream.
type sharedSession struct {
	sh     *Shared
	short  string       // the session's short ID: the prefix of its rewritten ids
	recv   func([]byte) // the gateway session's fromUpstream
	exited func(error)  // ends the gateway session when the shared process dies
	seq    uint64       // attach order, for newest
}

// Dial attaches a session, starting the upstream if it is not running; it is a [Dialer].
func (sh *Shared) Dial(ctx context.Context, info SessionInfo, recv func([]byte), exited func(error)) (Upstream, error) {
	s := &sharedSession{sh: sh, short: info.Short, recv: recv, exited: exited}
	// The session joins only once a process runs: a failed start leaves nothing behind.
	if err := sh.ensure(ctx); err != nil {
		return nil, err
	}
	sh.mu.Lock()
	sh.next++
	s.seq = sh.next
	sh.sessions[s] = true
	sh.mu.Unlock()
	return s, nil
}

// ensure starts the upstream once.
func (sh *Shared) ensure(ctx context.Context) error {
	for {
		sh.mu.Lock()
		if sh.closed {
			sh.mu.Unlock()
			return errClosed
		}
		if sh.up != nil {
			sh.mu.Unlock()
			return nil
		}
		if wait := sh.starting; wait != nil {
			// Another session is starting the process: wait for its attempt rather than
			// start a second one, then look again (it may have failed).
			sh.mu.Unlock()
			<-wait
			continue
		}
		done := make(chan struct{})
		sh.starting = done
		sh.initWait = make(chan struct{})
		// No process is live while up is nil, so the new one is current from its first line.
		sh.nextGen++
		sh.gen = sh.nextGen
		gen := sh.gen
		sh.mu.Unlock()
		up, err := sh.dial(ctx, sh.info, sh.recvOf(gen, nil), sh.exitedOf(gen, nil))
		sh.mu.Lock()
		sh.up, sh.starting = up, nil
		sh.mu.Unlock()
		close(done)
		return err
	}
}

// exited ends every session when the shared upstream ends; the next initialize restarts it.
func (sh *Shared) exited(err error) {
	sh.mu.Lock()
	sessions := sh.sessions
	sh.sessions = map[*sharedSession]bool{}
	// Forget the dead process's initialize too: the next process is a new server, which the
	// next session's initialize must reach.
	sh.up, sh.initResult, sh.initSent, sh.initID = nil, nil, false, ""
	if sh.initWait != nil {
		close(sh.initWait)
		sh.initWait = nil
	}
	clear(sh.pending)
	clear(sh.byOrigin)
	clear(sh.tokens)
	clear(sh.serverReqs)
	sh.mu.Unlock()
	for s := range sessions {
		if s.exited != nil {
			s.exited(err)
		}
	}
}

// Close stops the shared upstream; no process is started after it.
func (sh *Shared) Close() error {
	sh.mu.Lock()
	up := sh.up
	sh.closed = true
	sh.mu.Unlock()
	if up == nil {
		return nil
	}
	return up.Close()
}

// Close detaches the session; the upstream keeps running for the others. Its calls still in
// flight are forgotten, not cancelled: their answers, when they come, are dropped.
func (s *sharedSession) Close() error {
	sh := s.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	delete(sh.sessions, s)
	sh.replay.forget(s)
	// Scans rather than per-session indexes: a session has few entries, and Close is rare.
	for k, p := range sh.pending {
		if p.s == s {
			delete(sh.pending, k)
		}
	}
	for k, p := range sh.tokens {
		if p.s == s {
			delete(sh.tokens, k)
		}
	}
	for k, o := range sh.serverReqs {
		if o == s {
			delete(sh.serverReqs, k)
		}
	}
	return nil
}

// Send rewrites one message of the session and writes it to the shared upstream.
func (s *sharedSession) Send(msg []byte) error {
	sh := s.sh
	m, err := jsonrpc.Parse(msg)
	if err != nil {
		return err
	}
	sh.remember(s, m)
	// Each kind of message is rewritten differently: answers must reach the server request
	// they answer, requests get unique ids, notifications mostly pass as they are.
	switch {
	case m.IsResponse():
		// The client's answer to a server request: only the session it was sent to answers.
		sh.mu.Lock()
		owner := sh.serverReqs[idKey(m.ID)]
		delete(sh.serverReqs, idKey(m.ID))
		up := sh.up
		sh.mu.Unlock()
		if owner != s || up == nil {
			return errors.New("an answer to no request of this session")
		}
		return up.Send(msg)
	case m.Method == methodInitialize:
		return s.initialize(m)
	case m.Method == "notifications/initialized":
		sh.mu.Lock()
		first := sh.initResult != nil && !sh.initSent
		sh.initSent = sh.initSent || first
		up := sh.up
		sh.mu.Unlock()
		if first && up != nil {
			return up.Send(msg)
		}
		return nil // the upstream was initialized once, by the first session
	case m.Method == "notifications/cancelled":
		// The client names its own id; the upstream knows the rewritten one. A session can
		// only ever cancel its own calls, as byOrigin is keyed by the session.
		var p map[string]json.RawMessage
		if json.Unmarshal(m.Params, &p) == nil {
			sh.mu.Lock()
			newID, ok := sh.byOrigin[s.short+"|"+idKey(p["requestId"])]
			up := sh.up
			sh.mu.Unlock()
			if !ok || up == nil {
				return nil // nothing of this session to cancel
			}
			p["requestId"] = json.RawMessage(newID)
			return s.sendWith(m, mustJSON(p), nil, up)
		}
		return nil
	case m.IsRequest():
		// "<session>~<n>": unique on the shared connection whatever ids the clients chose
		// (every client starts at 0 or 1), and readable in the upstream's own logs.
		sh.mu.Lock()
		sh.next++
		newID := strconv.Quote(s.short + "~" + strconv.FormatUint(sh.next, 10))
		sh.pending[idKey(json.RawMessage(newID))] = sharedPending{s: s, orig: m.ID}
		sh.byOrigin[s.short+"|"+idKey(m.ID)] = newID
		params := m.Params
		if tok := progressTokenRaw(m.Params); tok != nil {
			newTok := strconv.Quote(s.short + "~t" + strconv.FormatUint(sh.next, 10))
			sh.tokens[idKey(json.RawMessage(newTok))] = sharedPending{s: s, orig: tok}
			params = withProgressToken(m.Params, json.RawMessage(newTok))
		}
		up := sh.up
		sh.mu.Unlock()
		if up == nil {
			return errors.New("the shared upstream is not running")
		}
		return s.sendWith(m, params, json.RawMessage(newID), up)
	default:
		sh.mu.Lock()
		up := sh.up
		sh.mu.Unlock()
		if up == nil {
			return errors.New("the shared upstream is not running")
		}
		return up.Send(msg)
	}
}

// initialize forwards the first initialize; later ones are answered with its result.
func (s *sharedSession) initialize(m *message) error {
	sh := s.sh
	sh.mu.Lock()
	if sh.initResult != nil {
		res := sh.initResult
		sh.mu.Unlock()
		s.recv(mustJSON(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": res}))
		return nil
	}
	if sh.initID != "" {
		// Another session's initialize is in flight: answer from it when it comes. The wait is
		// in a goroutine because Send must not block the session's POST handler on another
		// session's start.
		wait := sh.initWait
		sh.mu.Unlock()
		go func() {
			<-wait
			sh.mu.Lock()
			res := sh.initResult
			sh.mu.Unlock()
			if res != nil {
				s.recv(mustJSON(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": res}))
			} else {
				s.recv(errorResponse(m.ID, CodeUpstreamEnded, "the shared upstream ended during initialize", nil))
			}
		}()
		return nil
	}
	sh.next++
	newID := strconv.Quote(s.short + "~" + strconv.FormatUint(sh.next, 10))
	sh.initID = idKey(json.RawMessage(newID))
	sh.initParams = m.Params
	sh.pending[sh.initID] = sharedPending{s: s, orig: m.ID}
	up := sh.up
	sh.mu.Unlock()
	if up == nil {
		return errors.New("the shared upstream is not running")
	}
	return s.sendWith(m, m.Params, json.RawMessage(newID), up)
}

// sendWith writes m with params (and id, when not nil) replaced. It re-encodes only the
// envelope: params (already rewritten where needed) pass as raw JSON, so fields the gateway
// does not know survive.
func (s *sharedSession) sendWith(m *message, params json.RawMessage, id json.RawMessage, up Upstream) error {
	out := map[string]json.RawMessage{"jsonrpc": json.RawMessage(`"2.0"`), "method": mustJSON(m.Method)}
	if id != nil {
		out["id"] = id
	}
	if len(params) > 0 {
		out["params"] = params
	}
	return up.Send(mustJSON(out))
}

// fromUpstream routes a message of the shared upstream.
func (sh *Shared) fromUpstream(raw []byte) {
	m, err := jsonrpc.Parse(raw)
	if err != nil {
		return
	}
	switch {
	case m.IsResponse():
		key := idKey(m.ID)
		sh.mu.Lock()
		p, ok := sh.pending[key]
		delete(sh.pending, key)
		if ok {
			delete(sh.byOrigin, p.s.short+"|"+idKey(p.orig))
		}
		if key == sh.initID {
			// The answer to the first initialize: kept for every later session. An error
			// answer is not kept, so the next session's initialize tries again.
			sh.initID = ""
			if len(m.Result) > 0 {
				sh.initResult = m.Result
				sh.initSent = false
			}
			if sh.initWait != nil {
				close(sh.initWait)
				sh.initWait = make(chan struct{})
			}
		}
		sh.mu.Unlock()
		if ok {
			// The client gets its own id back; an unknown id (a session that left) is dropped.
			p.s.recv(withID(raw, p.orig))
		}
	case m.Method == methodProgress:
		// Progress names the rewritten token: restore the client's own, and send it only to
		// the session that gave it (another session's client would not know the token).
		tok := progressTokenOf(m)
		sh.mu.Lock()
		p, ok := sh.tokens[tok]
		sh.mu.Unlock()
		if ok {
			var params map[string]json.RawMessage
			if json.Unmarshal(m.Params, &params) == nil {
				params["progressToken"] = p.orig
				p.s.recv(mustJSON(map[string]any{"jsonrpc": "2.0", "method": m.Method, "params": params}))
			}
		}
	case m.IsRequest():
		// The session that caused it: the only one with a call in flight.
		sh.mu.Lock()
		var owner *sharedSession
		busy := map[*sharedSession]bool{}
		for _, p := range sh.pending {
			busy[p.s] = true
		}
		// Several busy sessions: guessing would show one user's sampling prompt (or
		// elicitation) to another, so the server is refused instead.
		if len(busy) == 1 {
			for s := range busy {
				owner = s
			}
		} else if sh.oneUser {
			owner = sh.newest(busy)
		}
		if owner != nil {
			sh.serverReqs[idKey(m.ID)] = owner
		}
		up := sh.up
		sh.mu.Unlock()
		if owner != nil {
			owner.recv(raw)
			return
		}
		sh.logger.Warn("shared upstream request refused: no single session has a call in flight", "method", m.Method, "sessions_busy", len(busy))
		if up != nil {
			_ = up.Send(errorResponse(m.ID, -32603, fmt.Sprintf("the gateway cannot tell which session this %s request is for (%d sessions have calls in flight)", m.Method, len(busy)), nil))
		}
	default:
		// A notification no call caused (list changes, resource updates, log messages): every
		// session gets it, as each client would from a server of its own.
		sh.mu.Lock()
		all := make([]*sharedSession, 0, len(sh.sessions))
		for s := range sh.sessions {
			all = append(all, s)
		}
		sh.mu.Unlock()
		for _, s := range all {
			s.recv(raw)
		}
	}
}
