package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/fastmcp-auth/fastmcp-auth/internal/jsonrpc"
	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

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

// post relays the messages of one POST (a message or a batch) to the session's upstream;
// an initialize starts the session first. The whole body is read and checked before anything
// is relayed, so a malformed batch relays none of its messages.
func (g *Gateway) post(w http.ResponseWriter, r *http.Request) {
	_, raws, ok := readBody(w, r)
	if !ok {
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
		// Alone: a batch with initialize would mix messages for a session that does not
		// exist yet with its start, and MCP forbids it.
		if len(msgs) != 1 || !msgs[0].IsRequest() {
			httpError(w, http.StatusBadRequest, codeInvalidRequest, "initialize must be sent alone, as a request")
			return
		}
		if r.Header.Get(headerSessionID) != "" {
			httpError(w, http.StatusBadRequest, codeInvalidRequest, "initialize starts a session: send it without Mcp-Session-Id")
			return
		}
		var err error
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

// get opens the session's standalone event stream: server requests and notifications that no
// call in flight can carry (list changes between calls, a log message) arrive there.
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
	// The stream ends with the session (its end is the client's cue to start another) or
	// with the client's connection, whichever comes first.
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

// delete ends the session at the client's request (MCP session management): its upstream
// is closed before the 204, so a client that starts a new session next does not briefly run
// two children.
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

// readBody reads a POST body of at most maxBody bytes and splits it into its JSON-RPC messages
// (one, or a batch's), answering 413 for a larger body, 400 for one that could not be read
// (the client went away mid-body) and a parse error for one that is not JSON-RPC; it reports
// whether it did.
func readBody(w http.ResponseWriter, r *http.Request) (body []byte, raws [][]byte, ok bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpError(w, http.StatusRequestEntityTooLarge, codeInvalidRequest, "the request body is too large")
			return nil, nil, false
		}
		httpError(w, http.StatusBadRequest, codeInvalidRequest, "could not read the request body")
		return nil, nil, false
	}
	if raws, err = splitBody(body); err != nil {
		httpError(w, http.StatusBadRequest, codeParseError, "the body is not a JSON-RPC message: "+err.Error())
		return nil, nil, false
	}
	return body, raws, true
}
