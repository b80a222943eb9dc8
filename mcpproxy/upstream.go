package mcpproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// Streamable HTTP headers (MCP 2025-11-25, "Transports"). minStandardHeaders is the first
// protocol version whose requests carry Mcp-Method and Mcp-Name; versions are YYYY-MM-DD
// dates, so comparing the strings orders them.
const (
	headerSessionID       = "Mcp-Session-Id"
	headerProtocolVersion = "Mcp-Protocol-Version"
	headerMethod          = "Mcp-Method" // SEP-2243 draft, protocol 2026-07-28
	headerName            = "Mcp-Name"   // SEP-2243 draft, protocol 2026-07-28
	minStandardHeaders    = "2026-07-28"
)

// post sends one JSON-RPC message upstream and returns the successful (2xx) response, whose
// body the caller closes, or an *rpcError to answer the client with. On a 401 it asks the
// token source for a fresh token and retries once; on a 404 for a known session (the server
// restarted, or expired the session) it re-initializes the session and retries once. written,
// if not nil, is called when the first attempt has been written to the network.
func (p *proxy) post(ctx context.Context, body []byte, env *envelope, written func()) (*http.Response, error) {
	token, err := p.token(ctx)
	if err != nil {
		return nil, err
	}
	// One refresh and one re-initialization per message at most: a server that keeps
	// answering 401 or 404 gets an error answer, not a loop.
	refreshed, reinitialized := false, false
	for {
		sess := p.session()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.Server, bytes.NewReader(body))
		if err != nil {
			return nil, &rpcError{Code: CodeUpstream, Message: fmt.Sprintf("invalid server URL: %v", err)}
		}
		p.setHeaders(req.Header, sess, token, env)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if written != nil {
			w := written
			written = nil
			req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
				// Called once the request is on the wire; readLoop waits for it before reading the
				// next message, which keeps the client's order (a cancellation never overtakes its
				// request).
				WroteRequest: func(httptrace.WroteRequestInfo) { w() },
			}))
		}
		resp, err := p.hc.Do(req)
		if err != nil {
			return nil, p.unreachable(err)
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			ch := parseChallenge(resp.Header.Get("WWW-Authenticate"))
			discard(resp)
			if p.cfg.Token == nil {
				return nil, authError(ch, "the MCP server requires a token but the proxy runs with --no-auth: drop --no-auth and run `fastmcp-auth login`")
			}
			if refreshed {
				return nil, authError(ch, "run `fastmcp-auth login`, then retry")
			}
			refreshed = true
			fresh, err := p.refresh(ctx, token)
			if err != nil {
				return nil, refreshError(ch, err)
			}
			// The source had nothing newer: retrying would only be rejected again.
			if fresh == token {
				return nil, authError(ch, "no newer token is cached: run `fastmcp-auth login`, then retry")
			}
			p.log.Info("access token rejected by the MCP server; retrying with a refreshed one", "reason", ch.Error)
			token = fresh
			continue
		case http.StatusForbidden:
			ch := parseChallenge(resp.Header.Get("WWW-Authenticate"))
			snippet := bodySnippet(resp)
			return nil, forbiddenError(ch, snippet)
		case http.StatusNotFound:
			// MCP: a 404 to a request bearing a session id means the server no longer knows the
			// session, and the client must start a new one with initialize.
			if sess.id != "" && !reinitialized && env.Method != methodInitialize {
				discard(resp)
				reinitialized = true
				if err := p.reinit(ctx, sess.gen); err != nil {
					return nil, err
				}
				continue
			}
		}
		if resp.StatusCode/100 != 2 {
			snippet := bodySnippet(resp)
			return nil, &rpcError{
				Code:    CodeUpstream,
				Message: fmt.Sprintf("the MCP server answered HTTP %d%s", resp.StatusCode, snippet),
				Data:    map[string]any{"httpStatus": resp.StatusCode},
			}
		}
		return resp, nil
	}
}

// setHeaders sets the session, protocol version and Authorization headers of an upstream
// request.
func (p *proxy) setHeaders(h http.Header, sess session, token string, env *envelope) {
	version := sess.version
	if v := metaProtocolVersion(env.Params); v != "" {
		version = v
	}
	// MCP: initialize carries no session id (the server assigns one in its answer), and
	// Mcp-Protocol-Version is sent only once a version was negotiated.
	if env.Method != methodInitialize {
		if sess.id != "" {
			h.Set(headerSessionID, sess.id)
		}
		if version != "" {
			h.Set(headerProtocolVersion, version)
		}
		if version >= minStandardHeaders && env.IsRequest() {
			h.Set(headerMethod, env.Method)
			if name := requestName(env.Method, env.Params); name != "" {
				h.Set(headerName, name)
			}
		}
	}
	if token != "" {
		// The only place the token goes: a request header to the configured server, never a
		// URL, a log line or an error.
		h.Set("Authorization", "Bearer "+token)
	}
}

// token returns the token to send, "" without a token supply.
func (p *proxy) token(ctx context.Context) (string, error) {
	if p.cfg.Token == nil {
		return "", nil
	}
	t, err := p.cfg.Token.Token(ctx)
	if err != nil {
		// The supply's message (e.g. "run fastmcp-auth login") goes to the client as is.
		return "", tokenError(err)
	}
	return t, nil
}

// refresh asks the token supply for a token to use instead of rejected. Requests rejected
// together (a tool call and the standalone stream, say) share one refresh: the supply returns
// the replacement another request already got.
func (p *proxy) refresh(ctx context.Context, rejected string) (string, error) {
	return p.cfg.Token.Refresh(ctx, rejected)
}

// authError is the answer to a 401 the proxy could not recover from. The server's
// error_description (e.g. "token expired at ...") is relayed: it names the reason and never
// holds the token.
func authError(ch challenge, next string) *rpcError {
	reason := ""
	if ch.Description != "" {
		reason = " (" + ch.Description + ")"
	} else if ch.Error != "" {
		reason = " (" + ch.Error + ")"
	}
	data := map[string]any{"httpStatus": http.StatusUnauthorized}
	if ch.Error != "" {
		data["error"] = ch.Error
	}
	return &rpcError{
		Code:    CodeUnauthorized,
		Message: fmt.Sprintf("not signed in: the MCP server rejected the access token%s; %s", reason, next),
		Data:    data,
	}
}

// forbiddenError is the answer to a 403: a missing scope when the challenge says so, else the
// server's reason (a session bound to another user, a rejected Host or Origin).
func forbiddenError(ch challenge, snippet string) *rpcError {
	data := map[string]any{"httpStatus": http.StatusForbidden}
	if ch.Error != "" {
		data["error"] = ch.Error
	}
	if ch.Error == "insufficient_scope" || (ch.Error == "" && ch.Scope != "") {
		data["scope"] = ch.Scope
		return &rpcError{
			Code: CodeForbidden,
			Message: fmt.Sprintf("forbidden: the access token lacks the scope %q the MCP server requires; "+
				"run `fastmcp-auth login --scope %s --force`, or ask an administrator to grant it",
				ch.Scope, loginScope(firstWord(ch.Scope))),
			Data: data,
		}
	}
	return &rpcError{Code: CodeForbidden, Message: "forbidden: the MCP server refused the request" + snippet, Data: data}
}

// firstWord is the first scope of a space-separated list, for the suggested login command.
func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

// loginScope is the --scope to suggest: the challenge's scope when it is already full
// (<app-id-uri>/execute, what serve advertises), else the short name under a placeholder.
func loginScope(s string) string {
	if strings.Contains(s, "/") {
		return s
	}
	return "<app-id-uri>/" + s
}

// unreachable is the answer when the server could not be reached at all.
func (p *proxy) unreachable(err error) *rpcError {
	var ue *url.Error
	// A *url.Error repeats the method and URL; the message names the server once.
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, netx.ErrCrossOriginRedirect) {
		return &rpcError{Code: CodeUpstream, Message: fmt.Sprintf("the MCP server at %s: %v", p.cfg.Server, err)}
	}
	return &rpcError{
		Code: CodeUnreachable,
		Message: fmt.Sprintf("could not reach the MCP server at %s (%v): check that it is running; the proxy reconnects on the next request",
			p.cfg.Server, err),
	}
}

// bodySnippet returns ": <first line of the body>" (at most 200 printable characters) and
// closes the body; "" for an empty body.
func bodySnippet(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	s = strings.Map(func(r rune) rune {
		// Only printable characters: a hostile body cannot put control sequences into the
		// client's display through the error message.
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return ""
	}
	return ": " + s
}

// discard drains a little of the body, so the connection can be reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
}

// session returns a copy of the current upstream session.
func (p *proxy) session() session {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sess
}

// startSession records a new upstream session (after an initialize answer).
func (p *proxy) startSession(id, version string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sess = session{id: id, version: version, gen: p.sess.gen + 1}
	if p.stopListen != nil {
		p.stopListen() // the old session's stream is of no use any more
		p.stopListen = nil
	}
}

// reinit starts a new upstream session after the server lost the one of generation failedGen:
// it replays the client's initialize (with a proxy-owned id, whose answer is not relayed) and
// the initialized notification. The client keeps its session with the proxy and notices
// nothing, except that state the server kept for the old session (subscriptions) is gone.
func (p *proxy) reinit(ctx context.Context, failedGen uint64) error {
	p.reinitMu.Lock()
	defer p.reinitMu.Unlock()
	p.mu.Lock()
	if p.sess.gen != failedGen {
		p.mu.Unlock()
		return nil // another request already re-initialized it
	}
	params := p.initParams
	p.reinitSeq++
	id := json.RawMessage(fmt.Sprintf(`"fastmcp-auth-proxy-reinit-%d"`, p.reinitSeq))
	p.mu.Unlock()
	if params == nil {
		return &rpcError{Code: CodeUpstream, Message: "the MCP server lost the session and the client never sent initialize: restart the MCP client"}
	}
	p.log.Info("the MCP server lost the session (restarted?); re-initializing it")

	body, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  string          `json:"method"`
		Params  json.RawMessage `json:"params"`
	}{"2.0", id, methodInitialize, params})
	if err != nil {
		return err
	}
	env := &envelope{ID: id, Method: methodInitialize, Params: params}
	resp, err := p.post(ctx, body, env, nil)
	if err != nil {
		return err
	}
	var result *envelope
	rerr := readMessages(resp, func(msg []byte, e *envelope) bool {
		if e.IsResponse() && idKey(e.ID) == idKey(id) {
			result = e
			return true
		}
		p.out.write(msg, e) // a log or request the server sent meanwhile
		return false
	})
	resp.Body.Close()
	if result == nil {
		return &rpcError{Code: CodeUnreachable, Message: fmt.Sprintf("could not re-initialize the session with the MCP server (%v); retry", rerr)}
	}
	if len(result.Result) == 0 {
		return &rpcError{Code: CodeUpstream, Message: "the MCP server refused to re-initialize the session; restart the MCP client"}
	}
	p.startSession(resp.Header.Get(headerSessionID), protocolVersionOf(result))

	resp, err = p.post(ctx, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), &envelope{Method: methodInitialized}, nil)
	if err != nil {
		return err
	}
	discard(resp)
	p.startListening()
	return nil
}

// startListening opens the standalone GET stream of the current session, over which the server
// sends what is not the answer to a request: list-changed and resource notifications, log
// messages, and its own requests (sampling, elicitation, roots).
func (p *proxy) startListening() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sess.id == "" || p.ctx == nil || p.stopListen != nil {
		return // sessionless servers have no standalone stream
	}
	ctx, cancel := context.WithCancel(p.ctx)
	p.stopListen = cancel
	go p.listen(ctx, p.sess)
}

// stopListening closes the standalone stream, if one is open.
func (p *proxy) stopListening() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopListen != nil {
		p.stopListen()
		p.stopListen = nil
	}
}

// listen holds the standalone stream of sess open until ctx ends, reconnecting with backoff.
// It gives up when the server does not offer the stream (405) or lost the session (404: the
// next request re-initializes it and opens a new stream).
func (p *proxy) listen(ctx context.Context, sess session) {
	backoff := 250 * time.Millisecond
	refreshed := false
	for ctx.Err() == nil {
		token, err := p.token(ctx)
		if err != nil {
			p.log.Warn("standalone stream closed: no token", "error", err)
			return
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.Server, nil)
		if err != nil {
			return
		}
		p.setHeaders(req.Header, sess, token, &envelope{})
		req.Header.Set("Accept", "text/event-stream")
		resp, err := p.hc.Do(req)
		if err == nil {
			switch {
			case resp.StatusCode == http.StatusOK:
				backoff = 250 * time.Millisecond
				refreshed = false
				err = readMessages(resp, func(msg []byte, env *envelope) bool {
					p.out.write(msg, env)
					return false
				})
				resp.Body.Close()
			case resp.StatusCode == http.StatusUnauthorized && !refreshed && p.cfg.Token != nil:
				discard(resp)
				refreshed = true
				if fresh, rerr := p.refresh(ctx, token); rerr != nil || fresh == token {
					p.log.Warn("standalone stream closed: the access token was rejected; run `fastmcp-auth login`")
					return
				}
				continue
			// 405 (no standalone stream offered), 404 (session gone) or another refusal: trying
			// again would get the same answer.
			case resp.StatusCode/100 == 4:
				discard(resp)
				p.log.Debug("no standalone stream", "status", resp.StatusCode)
				return
			default:
				discard(resp)
				err = fmt.Errorf("HTTP %d", resp.StatusCode)
			}
		}
		if ctx.Err() != nil {
			return
		}
		p.log.Debug("standalone stream interrupted; reconnecting", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// endSession tells the server the session is over (DELETE), best effort, so that it frees it
// now rather than at its idle timeout.
func (p *proxy) endSession() {
	sess := p.session()
	if sess.id == "" {
		return
	}
	// Run's context is already cancelled here; the DELETE gets its own short deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	token, err := p.token(ctx)
	if err != nil {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, p.cfg.Server, nil)
	if err != nil {
		return
	}
	p.setHeaders(req.Header, sess, token, &envelope{})
	resp, err := p.hc.Do(req)
	if err != nil {
		p.log.Debug("could not end the session", "error", err)
		return
	}
	discard(resp)
}
