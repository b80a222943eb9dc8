package mcpproxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/jsonrpc"
)

// readLoop reads messages from stdin and forwards each upstream in its own goroutine (a tool
// call's answer may take minutes; other requests must not wait behind it). It waits until a
// message has been written to the network before reading the next one, so that the server sees
// them in the client's order: a notifications/cancelled never overtakes its request.
func (p *proxy) readLoop(ctx context.Context, stdin io.Reader) error {
	sc := bufio.NewScanner(stdin)
	// Beyond MaxLineLength the scanner fails with bufio.ErrTooLong, ending the run.
	sc.Buffer(make([]byte, 64<<10), p.cfg.MaxLineLength)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		msgs, err := splitBatch(line)
		if err != nil {
			p.log.Warn("ignoring a line of stdin that is not JSON-RPC", "error", err)
			// JSON-RPC 2.0 section 5.1: -32700 parse error and -32600 invalid request, with a
			// null id since none could be read.
			p.writeError(nullID, &rpcError{Code: -32700, Message: "parse error: " + err.Error()})
			continue
		}
		for _, raw := range msgs {
			env, err := jsonrpc.Parse(raw)
			if err != nil {
				p.log.Warn("ignoring a message of stdin that is not JSON-RPC", "error", err)
				p.writeError(nullID, unreadable(err))
				continue
			}
			written := make(chan struct{})
			var once sync.Once
			signal := func() { once.Do(func() { close(written) }) }
			p.inflight.Add(1)
			go func() {
				defer p.inflight.Done()
				defer signal()
				p.forward(raw, env, signal)
			}()
			select {
			case <-written:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("could not read stdin: %w", err)
	}
	return nil
}

// unreadable is the answer to a message that jsonrpc.Parse refused (JSON-RPC 2.0 section
// 5.1): -32700 parse error when it is not JSON at all (splitBatch passes a single message
// through unread), -32600 invalid request when it is JSON but not a request.
func unreadable(err error) *rpcError {
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return &rpcError{Code: -32700, Message: "parse error: " + err.Error()}
	}
	return &rpcError{Code: -32600, Message: "invalid request: " + err.Error()}
}

// splitBatch returns the messages of one stdin line: the line itself, or the elements of a
// JSON-RPC batch, which are relayed one by one. The scanner's buffer is reused for the next
// line, so the messages are copies.
func splitBatch(line []byte) ([][]byte, error) {
	msgs, err := jsonrpc.SplitBatch(line)
	if err != nil {
		return nil, err
	}
	for i, m := range msgs {
		msgs[i] = bytes.Clone(m)
	}
	return msgs, nil
}

// forward sends one client message upstream and relays what comes back. written is called
// once the message has reached the network (or failed to).
func (p *proxy) forward(raw []byte, env *envelope, written func()) {
	ctx := p.ctx
	switch env.Method {
	case methodInitialize:
		p.mu.Lock()
		// Kept for reinit, which replays the client's own parameters (its capabilities and
		// protocol version) so the new session matches what the client negotiated.
		p.initParams = bytes.Clone(env.Params)
		p.mu.Unlock()
	case methodCancelled:
		p.markCancelled(env.Params)
	}
	start := time.Now()
	resp, err := p.post(ctx, raw, env, written)
	if err != nil {
		if ctx.Err() != nil {
			return // shutting down: nobody is left to read an answer
		}
		if env.IsRequest() {
			p.log.Warn("request failed upstream", "method", env.Method, "error", err)
			p.writeFailure(env, err)
		} else {
			p.log.Warn("message not delivered upstream", "method", env.Method, "error", err)
		}
		return
	}
	defer resp.Body.Close()
	if !env.IsRequest() {
		// Notifications and the client's answers get 202; relay anything else the server sent.
		if _, err := p.relay(resp, nil, false); err != nil && ctx.Err() == nil {
			p.log.Debug("reading the answer to a notification", "method", env.Method, "error", err)
		}
		if env.Method == methodInitialized {
			p.startListening()
		}
		p.log.Debug("relayed", "method", env.Method, "status", resp.StatusCode, "duration", time.Since(start))
		return
	}
	answered, err := p.relay(resp, env.ID, env.Method == methodInitialize)
	p.log.Debug("relayed", "method", env.Method, "status", resp.StatusCode, "duration", time.Since(start), "answered", answered)
	if answered || ctx.Err() != nil {
		p.forgetCancelled(env.ID)
		return
	}
	if p.forgetCancelled(env.ID) {
		return // the client gave up on it: no answer expected
	}
	// No answer arrived: the client gets an error rather than waiting forever on an id that
	// the server will never answer.
	msg := "the connection to the MCP server was lost before it answered; retry (the proxy reconnects on the next request)"
	if err == nil && resp.StatusCode == http.StatusAccepted {
		msg = "the MCP server accepted the request without answering it"
	} else if err != nil {
		msg = fmt.Sprintf("the connection to the MCP server was lost before it answered (%v); retry (the proxy reconnects on the next request)", err)
	}
	p.writeError(env.ID, &rpcError{Code: CodeUnreachable, Message: msg})
}

// relay writes to stdout every message of an upstream response (a JSON body or an SSE stream)
// and reports whether the answer to the request with the given id was among them; it returns as
// soon as it was. For the client's initialize, it records the new session before writing the
// answer, so that the client's next message already goes to that session.
func (p *proxy) relay(resp *http.Response, id json.RawMessage, isInit bool) (bool, error) {
	want := jsonrpc.IDKey(id)
	answered := false
	err := readMessages(resp, func(msg []byte, env *envelope) bool {
		isAnswer := want != "" && env.IsResponse() && jsonrpc.IDKey(env.ID) == want
		if isAnswer && isInit {
			p.startSession(resp.Header.Get(headerSessionID), protocolVersionOf(env))
		}
		p.out.write(msg, env)
		if isAnswer {
			answered = true
			return true
		}
		return false
	})
	return answered, err
}

// markCancelled records the request a notifications/cancelled names.
func (p *proxy) markCancelled(params json.RawMessage) {
	var c struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(params, &c) != nil || len(c.RequestID) == 0 {
		return
	}
	p.mu.Lock()
	p.cancelled[jsonrpc.IDKey(c.RequestID)] = true
	p.mu.Unlock()
}

// forgetCancelled removes id from the cancelled set and reports whether it was there.
func (p *proxy) forgetCancelled(id json.RawMessage) bool {
	k := jsonrpc.IDKey(id)
	p.mu.Lock()
	defer p.mu.Unlock()
	was := p.cancelled[k]
	delete(p.cancelled, k)
	return was
}

// writeError answers the client's request id with a JSON-RPC error.
// An error that is not an *rpcError becomes CodeUpstream with its text.
func (p *proxy) writeError(id json.RawMessage, err error) {
	var re *rpcError
	if !errors.As(err, &re) {
		re = &rpcError{Code: CodeUpstream, Message: err.Error()}
	}
	msg, mErr := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   *rpcError       `json:"error"`
	}{"2.0", id, re})
	if mErr != nil {
		p.log.Error("could not encode an error answer", "error", mErr)
		return
	}
	p.out.write(msg, &envelope{ID: id})
}
