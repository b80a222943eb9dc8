package mcpproxy

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
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
			ch := bearerChallenge(resp.Header.Get("WWW-Authenticate"))
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
				return nil, authError(ch, "it could not be refreshed: "+err.Error())
			}
			// The source had nothing newer: retrying would only be rejected again.
			if fresh == token {
				return nil, authError(ch, "no newer token is cached: run `fastmcp-auth login`, then retry")
			}
			p.log.Info("access token rejected by the MCP server; retrying with a refreshed one", "reason", ch.Error)
			token = fresh
			continue
		case http.StatusForbidden:
			ch := bearerChallenge(resp.Header.Get("WWW-Authenticate"))
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
		return "", &rpcError{Code: CodeUnauthorized, Message: err.Error()}
	}
	return t, nil
}

// refresh asks the token supply for a token to use instead of rejected. Requests rejected
// together (a tool call and the standalone stream, say) share one refresh: the supply returns
// the replacement another request already got.
func (p *proxy) refresh(ctx context.Context, rejected string) (string, error) {
	return p.cfg.Token.Refresh(ctx, rejected)
}
