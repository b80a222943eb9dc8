package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/jsonrpc"
	"github.com/fastmcp-auth/fastmcp-auth/policy"
)

// Passthrough is the stateless gateway of `serve --upstream URL --stateless`: it keeps no
// session of its own. Each request is checked (token, policy) and relayed to the upstream with
// the upstream's own Mcp-Session-Id, so the session lives in the upstream server and any
// number of gateway replicas can sit behind a plain load balancer. Answers are filtered on
// the way back (lists, unknown tools) from what the request itself asked, which needs no state.
//
// What it gives up, like serve --stateless: the binding of a session to the user who started
// it (every request is still authenticated on its own), and the session limits of [Gateway].
type Passthrough struct {
	// URL is the upstream MCP endpoint; Headers are sent with every request (never the
	// caller's Authorization).
	URL     string
	Headers http.Header
	// Client talks to the upstream; nil builds one as [Remote] does.
	Client *http.Client
	// Policy, Identity, OnEvent and Logger are as in [Config].
	Policy   func() *policy.Policy
	Identity func(ctx context.Context) *auth.Identity
	OnEvent  func(Event)
	Logger   *slog.Logger
}

// passHeaders are the request headers relayed upstream. An allow-list, not a deny-list: the
// caller's Authorization (a token for this gateway, not for the upstream) and cookies must
// never travel on, and a header added to HTTP tomorrow should not either.
var passHeaders = []string{"Accept", "Content-Type", "Mcp-Session-Id", "Mcp-Protocol-Version", "Last-Event-ID"}

// NewPassthrough checks p and returns its handler.
func NewPassthrough(p Passthrough) (http.Handler, error) {
	if p.URL == "" {
		return nil, errors.New("gateway: Passthrough.URL is required")
	}
	if p.Client == nil {
		c, err := Remote{URL: p.URL, Headers: p.Headers}.client()
		if err != nil {
			return nil, err
		}
		p.Client = c
	} else {
		// A given client (tests, a custom transport) still gets the static headers, and keeps
		// its redirect policy.
		p.Client = &http.Client{Transport: &headerTransport{base: p.Client.Transport, headers: p.Headers}, CheckRedirect: p.Client.CheckRedirect}
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{cfg: Config{Policy: p.Policy, Identity: p.Identity, OnEvent: p.OnEvent}, logger: p.Logger}
	return &passthrough{p: p, g: g}, nil
}

// passthrough is the handler NewPassthrough returns; it holds no per-session state.
type passthrough struct {
	p Passthrough
	g *Gateway // for the policy, claims and events it shares with the stateful gateway
}

// ServeHTTP checks and relays one request.
func (h *passthrough) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if refuseRebinding(w, r, h.p.Logger) {
		return
	}
	var body []byte
	calls := map[string]*call{}
	if r.Method == http.MethodPost {
		var raws [][]byte
		var ok bool
		if body, raws, ok = readBody(w, r); !ok {
			return
		}
		// A throwaway session: authorize needs one for the policy and the logs, and nothing
		// of it outlives this request.
		id := h.g.identity(r)
		s := &session{g: h.g, logger: h.p.Logger, short: "stateless"}
		var denied [][]byte
		for _, raw := range raws {
			m, err := jsonrpc.Parse(raw)
			if err != nil || !m.IsRequest() {
				continue
			}
			c := &call{id: m.ID, method: m.Method, start: time.Now(), identity: id}
			if deny := s.authorize(c, m); deny != nil {
				denied = append(denied, deny)
				continue
			}
			// Remembered for this request only: its answer is filtered and recorded as it
			// passes back, which needs what the request asked, not a session.
			calls[idKey(m.ID)] = c
		}
		if len(denied) > 0 {
			// A denial is answered here, as the upstream would answer an unknown name.
			if len(raws) == 1 {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(denied[0])
				return
			}
			// A batch cannot be half relayed and half answered here without merging two
			// responses, so a batch with a denial is refused whole.
			httpError(w, http.StatusBadRequest, codeInvalidRequest, "a batch naming an unknown tool, prompt or resource: send the requests one by one")
			return
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, h.p.URL, bytes.NewReader(body))
	if err != nil {
		httpError(w, http.StatusBadGateway, CodeUpstreamUnavailable, "invalid upstream URL")
		return
	}
	for _, k := range passHeaders {
		if v := r.Header.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	// The URL is the operator's --upstream, fixed at start; only the body comes from the caller.
	resp, err := h.p.Client.Do(req) //nolint:gosec // G704: not caller-controlled
	if err != nil {
		h.p.Logger.Warn("upstream unreachable", "err", err)
		httpError(w, http.StatusBadGateway, CodeUpstreamUnavailable, "the upstream MCP server could not be reached")
		return
	}
	defer resp.Body.Close()
	// Back to the client only what MCP needs: the upstream's own cookies or server headers
	// stay between the gateway and it.
	for _, k := range []string{"Content-Type", "Mcp-Session-Id", "Cache-Control", "Retry-After", "Allow"} {
		if v := resp.Header.Get(k); v != "" {
			w.Header().Set(k, v)
		}
	}
	ct := resp.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "text/event-stream"):
		w.Header().Set("X-Accel-Buffering", "no")
		w.WriteHeader(resp.StatusCode)
		h.relaySSE(w, resp.Body, calls)
	case strings.HasPrefix(ct, "application/json") && len(calls) > 0:
		// A JSON answer is rewritten whole (filtered lists change its length), within a bound
		// so that an upstream cannot make the gateway buffer without end.
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(h.rewrite(b, calls))
	default:
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}
}

// rewrite filters an upstream message (or batch) that answers one of calls.
func (h *passthrough) rewrite(b []byte, calls map[string]*call) []byte {
	msgs, err := splitBody(b)
	if err != nil {
		return b
	}
	out := make([][]byte, 0, len(msgs))
	for _, raw := range msgs {
		m, err := jsonrpc.Parse(raw)
		if err != nil || !m.IsResponse() {
			out = append(out, raw)
			continue
		}
		c := calls[idKey(m.ID)]
		if c == nil {
			out = append(out, raw)
			continue
		}
		// answered writes to a stream: a one-answer stream collects its output here, so the
		// stateful gateway's filtering and audit serve this path unchanged.
		st := newStream(1)
		c.stream = st
		h.g.answered(nil, c, m, raw)
		st.mu.Lock()
		out = append(out, st.queue...)
		st.mu.Unlock()
	}
	if len(out) == 1 && (len(b) == 0 || bytes.TrimSpace(b)[0] != '[') {
		return out[0]
	}
	joined, _ := json.Marshal(rawList(out))
	return joined
}

// rawList marshals as a JSON array of already encoded messages.
type rawList [][]byte

// MarshalJSON joins the messages.
func (l rawList) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, m := range l {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(m)
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// relaySSE copies an event stream, rewriting the data of answers to calls.
func (h *passthrough) relaySSE(w http.ResponseWriter, body io.Reader, calls map[string]*call) {
	rc := http.NewResponseController(w)
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		// SSE allows "data:" with or without the space; answers come one per event, so each
		// data line is a whole message (or batch) to rewrite.
		if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok && len(calls) > 0 {
			line = append([]byte("data: "), h.rewrite(data, calls)...)
		} else if data, ok := bytes.CutPrefix(line, []byte("data:")); ok && len(calls) > 0 {
			line = append([]byte("data: "), h.rewrite(data, calls)...)
		}
		if _, err := w.Write(append(line, '\n')); err != nil {
			return
		}
		// A blank line ends an event: flush there, so progress reaches the client as it
		// comes rather than when a buffer fills.
		if len(line) == 0 {
			_ = rc.Flush()
		}
	}
	_ = rc.Flush()
}
