package gateway

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/jsonrpc"
	"github.com/fastmcp-auth/fastmcp-auth/policy"
)

// call is a client request in flight upstream.
type call struct {
	id       json.RawMessage
	method   string
	name     string // tool or prompt name, resource URI
	stream   *stream
	progress string // progress token key, "" without one
	start    time.Time
	claims   map[string]any // for filtering the answer to a list
	identity *auth.Identity
	args     map[string]any
	rule     string // deciding rule, for the audit trail
}

// session is one MCP session: its client side (owner, streams) and its upstream.
type session struct {
	id     string
	short  string // for logs: enough to tell sessions apart, too short to use
	owner  string // ownerOf the creator (tenant/object ID); "" without auth
	g      *Gateway
	logger *slog.Logger

	up Upstream // set once, before the session is published; never reassigned

	mu         sync.Mutex
	pending    map[string]*call   // by idKey of the client's request id
	order      []*call            // pending calls, oldest first (server-initiated routing)
	progress   map[string]*stream // progress token -> stream of the call that gave it
	standalone *stream            // the latest GET stream, nil when none is open
	backlog    [][]byte           // server messages waiting for a standalone stream
	lastActive time.Time
	ended      bool
	endedCh    chan struct{} // closed by end: wakes the standalone stream's handler
}

// maxBacklog bounds the server messages kept for a standalone stream that is not open: a
// client that never opens one must not make the gateway hold an upstream's every log line.
// Beyond it, messages are dropped (MCP lets a server's notifications be lost).
const maxBacklog = 256

// touch records activity for the idle timeout.
func (s *session) touch() {
	s.mu.Lock()
	s.lastActive = time.Now()
	s.mu.Unlock()
}

// idle reports whether the session has no call in flight and no activity since before t.
func (s *session) idleSince(t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending) == 0 && s.lastActive.Before(t)
}

// fromClient handles one message of a POST. Requests are registered on st before they are
// sent, so their answers can never arrive before the gateway knows where they go.
func (s *session) fromClient(raw []byte, m *message, st *stream, id *auth.Identity) {
	line, err := compact(raw)
	if err != nil {
		if m.IsRequest() {
			st.push(errorResponse(m.ID, codeParseError, "the message is not valid JSON", nil), true)
		}
		return
	}
	if !m.IsRequest() {
		// Notifications (initialized, cancelled, progress, roots/list_changed) and the client's
		// answers to server requests (sampling, elicitation, roots) go up unchanged.
		if err := s.up.Send(line); err != nil {
			s.logger.Debug("could not relay a client message upstream", "session", s.short, "err", err)
		}
		return
	}
	// The call remembers the caller's identity at this request (not the session creator's),
	// for the audit trail and for filtering the answer if it is a list.
	c := &call{id: m.ID, method: m.Method, stream: st, start: time.Now(), identity: id, progress: progressTokenOf(m)}
	// A denied request never reaches the upstream: the answer is made here, identical to the
	// one for a name that does not exist.
	if deny := s.authorize(c, m); deny != nil {
		st.push(deny, true)
		return
	}
	key := idKey(m.ID)
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		st.push(errorResponse(m.ID, CodeUpstreamEnded, "the session has ended: start a new one (initialize)", nil), true)
		return
	}
	// A reused id would make two answers indistinguishable: JSON-RPC requires unique ids
	// among the requests in flight, and the gateway enforces it rather than misroute.
	if _, dup := s.pending[key]; dup {
		s.mu.Unlock()
		st.push(errorResponse(m.ID, codeInvalidRequest, "a request with this id is already in flight", nil), true)
		return
	}
	s.pending[key] = c
	s.order = append(s.order, c)
	if c.progress != "" {
		s.progress[c.progress] = st
	}
	s.lastActive = time.Now()
	s.mu.Unlock()
	// The send happens outside s.mu: a child's full stdin pipe may block it, and the answers
	// of other calls must still be delivered meanwhile.
	if err := s.up.Send(line); err != nil {
		if s.take(key) != nil {
			st.push(errorResponse(m.ID, CodeUpstreamUnavailable, "the upstream MCP server could not be reached: "+err.Error(), nil), true)
		}
	}
}

// take removes the pending call with key and returns it (nil when unknown).
func (s *session) take(key string) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.pending[key]
	if c == nil {
		return nil
	}
	delete(s.pending, key)
	for i, o := range s.order {
		if o == c {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	// The token is forgotten with its call (late progress is routed like any other server
	// message), unless a newer call of the session reused it: then it is that call's.
	if c.progress != "" && s.progress[c.progress] == c.stream {
		delete(s.progress, c.progress)
	}
	s.lastActive = time.Now()
	return c
}

// fromUpstream routes one message of the upstream server to the client.
func (s *session) fromUpstream(raw []byte) {
	m, err := jsonrpc.Parse(raw)
	if err != nil {
		s.logger.Warn("upstream sent a message that is not JSON-RPC; dropped", "session", s.short, "err", err)
		return
	}
	if m.IsResponse() {
		c := s.take(idKey(m.ID))
		if c == nil {
			s.logger.Debug("upstream answered an unknown request; dropped", "session", s.short)
			return
		}
		s.g.answered(s, c, m, raw)
		return
	}
	// Progress goes to the stream of the call that gave the token, whichever call is newest:
	// the token is the only link the protocol gives between the two.
	if m.Method == methodProgress {
		if tok := progressTokenOf(m); tok != "" {
			s.mu.Lock()
			st := s.progress[tok]
			s.mu.Unlock()
			if st != nil && st.push(raw, false) {
				return
			}
		}
	}
	s.route(raw)
}

// route delivers a server request or notification that no answer stream claims: to the stream
// of the latest call in flight (the one that most likely caused it: a sampling or elicitation
// request made by a tool, a log message), else to the standalone stream, else to the backlog
// the next standalone stream receives.
func (s *session) route(raw []byte) {
	s.mu.Lock()
	var candidates []*stream
	for i := len(s.order) - 1; i >= 0; i-- {
		candidates = append(candidates, s.order[i].stream)
	}
	sa := s.standalone
	s.mu.Unlock()
	for _, st := range candidates {
		if st.push(raw, false) {
			return
		}
	}
	if sa != nil && sa.push(raw, false) {
		return
	}
	s.mu.Lock()
	if len(s.backlog) < maxBacklog {
		s.backlog = append(s.backlog, raw)
	}
	s.mu.Unlock()
}

// listen makes st the standalone stream, replacing (and ending) an older one.
func (s *session) listen(st *stream) {
	s.mu.Lock()
	old := s.standalone
	s.standalone = st
	backlog := s.backlog
	s.backlog = nil
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
	for _, msg := range backlog {
		st.push(msg, false)
	}
}

// end closes the session: every call in flight gets an error answer saying why, the
// standalone stream ends, and the upstream is closed (the child process killed).
func (s *session) end(reason string) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	// Every call in flight gets an answer: a client waiting on its POST must never hang
	// because the upstream went away.
	calls := s.order
	s.pending, s.order, s.progress = map[string]*call{}, nil, map[string]*stream{}
	sa := s.standalone
	s.mu.Unlock()
	close(s.endedCh)
	for _, c := range calls {
		c.stream.push(errorResponse(c.id, CodeUpstreamEnded, reason, nil), true)
		s.g.ended(s, c)
	}
	if sa != nil {
		sa.close()
	}
	if err := s.up.Close(); err != nil {
		s.logger.Warn("could not stop the upstream", "session", s.short, "err", err)
	}
}

// authorize applies the policy to a request naming a tool, prompt or resource. It returns the
// answer to send instead of forwarding, or nil to forward. List requests are noted for
// filtering their answers.
func (s *session) authorize(c *call, m *message) []byte {
	pol := s.g.policy()
	switch m.Method {
	case methodToolsCall, methodPromptsGet, methodResourcesRead, methodSubscribe, methodUnsubscribe, methodComplete:
	case methodToolsList, methodPromptsList, methodResourcesList, methodTemplatesList:
		if pol != nil {
			c.claims = s.g.claims(c.identity)
		}
		return nil
	default:
		return nil
	}
	p, err := parseParams(m.Params)
	if err != nil {
		return errorResponse(m.ID, codeInvalidParams, "invalid params: "+err.Error(), nil)
	}
	kind, name := policy.Tool, p.Name
	switch m.Method {
	case methodPromptsGet:
		kind = policy.Prompt
	case methodResourcesRead, methodSubscribe, methodUnsubscribe:
		kind, name = policy.Resource, p.URI
	case methodComplete:
		if p.Ref == nil {
			return nil
		}
		switch p.Ref.Type {
		case "ref/prompt":
			kind, name = policy.Prompt, p.Ref.Name
		case "ref/resource":
			kind, name = policy.Resource, p.Ref.URI
		default:
			return nil
		}
	}
	c.name = name
	if m.Method == methodToolsCall {
		c.args = p.Arguments
	}
	if pol == nil {
		return nil
	}
	d := pol.Decide(policy.Input{Kind: kind, Name: name, Claims: s.g.claims(c.identity), Args: p.Arguments})
	c.rule = d.RuleLabel()
	if d.Allow {
		return nil
	}
	attrs := []any{"session", s.short, "kind", kind, "name", name, "rule", d.RuleLabel()}
	if c.identity != nil {
		attrs = append(attrs, "subject", c.identity.User())
	}
	if d.Reason != "" {
		attrs = append(attrs, "reason", d.Reason)
	}
	s.logger.Info("policy denied", attrs...)
	s.g.denied(s, c)
	return notFound(m.ID, kind, name)
}

// notFound is the answer for an item the caller may not see: the same as for one that does
// not exist, so that a denial reveals nothing.
func notFound(id json.RawMessage, kind policy.Kind, name string) []byte {
	switch kind {
	case policy.Prompt:
		return errorResponse(id, codeInvalidParams, "Unknown prompt: "+name, nil)
	case policy.Resource:
		return errorResponse(id, codeResourceNotFound, "Resource not found: "+name, map[string]string{"uri": name})
	default:
		return errorResponse(id, codeInvalidParams, "Unknown tool: "+name, nil)
	}
}

// unknownToolAnswer reports whether an upstream answer to tools/call says the tool does not
// exist: a JSON-RPC -32602 error, or (the TypeScript SDK's McpServer) an isError result whose
// text says "Tool <name> not found".
func unknownToolAnswer(m *message, name string) bool {
	if len(m.Error) > 0 {
		var e struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(m.Error, &e)
		return e.Code == codeInvalidParams && mentionsUnknown(e.Message, name)
	}
	var r struct {
		IsError bool `json:"isError"`
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
	}
	if json.Unmarshal(m.Result, &r) != nil || !r.IsError || len(r.Content) != 1 {
		return false
	}
	t := r.Content[0].Text
	return strings.Contains(t, "-32602") && mentionsUnknown(t, name)
}

func mentionsUnknown(msg, name string) bool {
	l := strings.ToLower(msg)
	return strings.Contains(msg, name) && (strings.Contains(l, "not found") || strings.Contains(l, "unknown tool"))
}

// String names the session in logs.
func (s *session) String() string { return fmt.Sprintf("session %s", s.short) }

// waitEnded returns a channel closed when the session ends.
func (s *session) done() <-chan struct{} { return s.endedCh }
