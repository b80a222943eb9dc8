package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/fastmcp-auth/fastmcp-auth/internal/jsonrpc"
)

// CodeUpstreamRestarted answers the calls in flight when a shared or per-user upstream process
// is replaced under them (a renewed --obo-token-env token): the session lives on, and the
// same request sent again reaches the new process.
const CodeUpstreamRestarted = -32036

// errNotRunning: Restart found no process to replace (it exited, or the Shared is closed).
var errNotRunning = errors.New("the upstream is not running")

// restartInitID is the id of the initialize the gateway itself sends to a replacement
// process; no client sees it, and "~" keeps it apart from every rewritten session id.
const restartInitID = `"gateway~restart"`

// recvOf routes the messages of the process of generation gen: to the sessions while it is the
// current process, to pre (a replacement being initialized) before that, and nowhere once it
// has been replaced, so that a retiring process cannot answer a call of its successor.
func (sh *Shared) recvOf(gen uint64, pre *restartGate) func([]byte) {
	return func(raw []byte) {
		sh.mu.Lock()
		current := sh.gen == gen
		sh.mu.Unlock()
		switch {
		case current:
			sh.fromUpstream(raw)
		case pre != nil:
			pre.recv(raw)
		}
	}
}

// exitedOf is recvOf for the end of a process: only the current process's exit ends the
// sessions; a replaced one was closed on purpose.
func (sh *Shared) exitedOf(gen uint64, pre *restartGate) func(error) {
	return func(err error) {
		sh.mu.Lock()
		current := sh.gen == gen
		sh.mu.Unlock()
		switch {
		case current:
			sh.exited(err)
		case pre != nil:
			pre.exit(err)
		}
	}
}

// newest picks the session of a server request no single call can have caused, when every
// session is one user's (PerUser): the newest busy session, else the newest session. Sending
// it to one of the user's clients cannot show it to another user, and servers ask such things
// unprompted (server-everything asks for roots/list as soon as it is initialized).
// sh.mu is held.
func (sh *Shared) newest(busy map[*sharedSession]bool) *sharedSession {
	pick := func(from map[*sharedSession]bool) *sharedSession {
		var best *sharedSession
		for s := range from {
			if best == nil || s.seq > best.seq {
				best = s
			}
		}
		return best
	}
	if s := pick(busy); s != nil {
		return s
	}
	return pick(sh.sessions)
}

// replayState is the state of the sessions that a restart can give the new process again,
// because the protocol lets a client set it at any time: resource subscriptions and the log
// level. What the old server kept in memory otherwise cannot be rebuilt from outside.
type replayState struct {
	subs  map[string]map[*sharedSession]bool // resource URI -> sessions subscribed
	level json.RawMessage                    // params of the last logging/setLevel
}

// forget drops s's subscriptions (it left). sh.mu is held.
func (r *replayState) forget(s *sharedSession) {
	for uri, set := range r.subs {
		delete(set, s)
		if len(set) == 0 {
			delete(r.subs, uri)
		}
	}
}

// remember notes a session's subscribe, unsubscribe or setLevel as it is sent. It is noted
// whether or not the server accepts it: a refused one, replayed, is refused again.
func (sh *Shared) remember(s *sharedSession, m *message) {
	if !m.IsRequest() || (m.Method != methodSubscribe && m.Method != methodUnsubscribe && m.Method != methodSetLevel) {
		return
	}
	var p struct {
		URI string `json:"uri"`
	}
	_ = json.Unmarshal(m.Params, &p)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	switch {
	case m.Method == methodSetLevel:
		sh.replay.level = m.Params
	case p.URI == "":
	case m.Method == methodSubscribe:
		if sh.replay.subs == nil {
			sh.replay.subs = map[string]map[*sharedSession]bool{}
		}
		if sh.replay.subs[p.URI] == nil {
			sh.replay.subs[p.URI] = map[*sharedSession]bool{}
		}
		sh.replay.subs[p.URI][s] = true
	default:
		delete(sh.replay.subs[p.URI], s)
		if len(sh.replay.subs[p.URI]) == 0 {
			delete(sh.replay.subs, p.URI)
		}
	}
}

// replayTo sends up the subscriptions and log level of the sessions. The ids are the
// gateway's own ("gateway~..."): the answers match no call and are dropped.
func (sh *Shared) replayTo(up Upstream) {
	sh.mu.Lock()
	uris := make([]string, 0, len(sh.replay.subs))
	for uri := range sh.replay.subs {
		uris = append(uris, uri)
	}
	level := sh.replay.level
	sh.mu.Unlock()
	send := func(id, method string, params any) {
		if err := up.Send(mustJSON(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})); err != nil {
			sh.logger.Warn("could not replay to the restarted upstream", "method", method, "err", err)
		}
	}
	for i, uri := range uris {
		send(fmt.Sprintf("gateway~subscribe~%d", i), methodSubscribe, map[string]string{"uri": uri})
	}
	if level != nil {
		send("gateway~setlevel", methodSetLevel, level)
	}
}

// restartGate receives what a replacement process says before it becomes current: the
// answer to the gateway's initialize, or its early exit. Anything else it says then (a log
// notification during start-up) concerns no session and is dropped.
type restartGate struct {
	mu     sync.Mutex
	done   bool
	answer chan *message
	gone   chan error
}

func newRestartGate() *restartGate {
	return &restartGate{answer: make(chan *message, 1), gone: make(chan error, 1)}
}

func (r *restartGate) recv(raw []byte) {
	m, err := jsonrpc.Parse(raw)
	if err != nil || !m.IsResponse() || idKey(m.ID) != idKey(json.RawMessage(restartInitID)) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.done {
		r.done = true
		r.answer <- m
	}
}

func (r *restartGate) exit(err error) {
	select {
	case r.gone <- err:
	default:
	}
}

// Restart replaces the upstream process with a new one from the Shared's Dialer while keeping
// every session: the new process is initialized with the first client's initialize params
// (and notifications/initialized, if the client sent it), then takes over at once. Calls in
// flight on the old process are answered with CodeUpstreamRestarted (why says why) and the old
// process is closed. Resource subscriptions and the log level the clients set are sent again
// (replayState). What the old process kept in memory is lost: anything a tool stored, server
// requests awaiting the client's answer; the sessions keep the capabilities negotiated with
// the old process.
//
// A process that fails to start or to initialize is closed and the old one keeps serving;
// Restart then returns the error.
func (sh *Shared) Restart(ctx context.Context, why string) error {
	sh.restartMu.Lock()
	defer sh.restartMu.Unlock()
	sh.mu.Lock()
	if sh.closed || sh.up == nil || sh.starting != nil {
		sh.mu.Unlock()
		return errNotRunning
	}
	params, initialized := sh.initParams, sh.initSent
	hadInit := sh.initResult != nil
	sh.nextGen++
	gen := sh.nextGen
	sh.mu.Unlock()

	gate := newRestartGate()
	up, err := sh.dial(ctx, sh.info, sh.recvOf(gen, gate), sh.exitedOf(gen, gate))
	if err != nil {
		return err
	}
	var result json.RawMessage
	if hadInit {
		if result, err = initializeReplacement(ctx, up, gate, params); err != nil {
			_ = up.Close()
			return err
		}
	}

	sh.mu.Lock()
	if sh.closed || sh.up == nil {
		// The old process exited (its sessions have ended) or the Shared was closed meanwhile.
		sh.mu.Unlock()
		_ = up.Close()
		return errNotRunning
	}
	old := sh.up
	sh.up, sh.gen = up, gen
	if hadInit {
		sh.initResult = result
	}
	inFlight := sh.pending
	sh.pending = map[string]sharedPending{}
	clear(sh.byOrigin)
	clear(sh.tokens)
	clear(sh.serverReqs)
	if sh.initID != "" {
		// A session's initialize was in flight on the old process: it is failed below with
		// the other calls; sessions waiting on it learn the (new) result.
		sh.initID = ""
		close(sh.initWait)
		sh.initWait = make(chan struct{})
	}
	sh.mu.Unlock()

	if hadInit && initialized {
		if err := up.Send([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)); err != nil {
			sh.logger.Warn("could not send notifications/initialized to the restarted upstream", "err", err)
		}
		// Only after initialized: a server takes no other request before it.
		sh.replayTo(up)
	}
	msg := fmt.Sprintf("the upstream MCP server was restarted (%s) while this request was in flight: send it again", why)
	for _, p := range inFlight {
		p.s.recv(errorResponse(p.orig, CodeUpstreamRestarted, msg, nil))
	}
	sh.info.Logger.Info("upstream restarted", "why", why, "calls_failed", len(inFlight))
	go func() { _ = old.Close() }()
	return nil
}

// initializeReplacement sends the recorded initialize to a new process and waits for its
// answer (or ctx, or its exit).
func initializeReplacement(ctx context.Context, up Upstream, gate *restartGate, params json.RawMessage) (json.RawMessage, error) {
	req := map[string]json.RawMessage{"jsonrpc": json.RawMessage(`"2.0"`), "id": json.RawMessage(restartInitID), "method": json.RawMessage(`"initialize"`)}
	if len(params) > 0 {
		req["params"] = params
	}
	if err := up.Send(mustJSON(req)); err != nil {
		return nil, fmt.Errorf("could not initialize the restarted upstream: %w", err)
	}
	select {
	case m := <-gate.answer:
		if len(m.Result) == 0 {
			return nil, fmt.Errorf("the restarted upstream refused initialize: %s", m.Error)
		}
		return m.Result, nil
	case err := <-gate.gone:
		return nil, fmt.Errorf("the restarted upstream exited during initialize: %w", err)
	case <-ctx.Done():
		return nil, fmt.Errorf("the restarted upstream did not answer initialize: %w", ctx.Err())
	}
}
