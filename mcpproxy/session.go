package mcpproxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/jsonrpc"
)

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
		if e.IsResponse() && jsonrpc.IDKey(e.ID) == jsonrpc.IDKey(id) {
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
