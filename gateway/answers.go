package gateway

import (
	"encoding/json"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/policy"
)

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
		// An upstream's own "unknown tool" answer is replaced by the gateway's, so that it
		// reads exactly as a denial does: a caller must not tell a denied tool from a
		// missing one by the wording of the answer.
		if unknownToolAnswer(m, c.name) {
			out = notFound(c.id, policy.Tool, c.name)
			outcome = "error"
		} else if len(m.Error) > 0 || isErrorResult(m.Result) {
			outcome = "error"
		}
		g.event(Event{Event: "call", Kind: policy.Tool, Identity: c.identity, Name: c.name, Rule: c.rule, Allowed: true,
			Duration: time.Since(c.start), Outcome: outcome, Args: c.args})
	}
	// A closed stream means the client disconnected; the answer has nowhere else to go (it
	// belongs to that POST alone), so it is dropped.
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

// event stamps e and hands it to Config.OnEvent (audit log, metrics). Without a policy no rule
// decided, so the rule is left empty rather than reported as "none".
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

// isErrorResult reports a tool result with isError set: a failure the tool reported itself,
// counted as an error outcome though the JSON-RPC call succeeded.
func isErrorResult(result json.RawMessage) bool {
	var r struct {
		IsError bool `json:"isError"`
	}
	return json.Unmarshal(result, &r) == nil && r.IsError
}

// filterList removes from a list answer the items the caller's policy denies. The items and
// the other fields of the result (nextCursor, _meta) are kept as raw JSON, so what the gateway
// does not model passes unchanged. The claims are those of the caller of the list request,
// noted when it was sent. Pages are filtered one by one, so a page may come back short or
// empty with a nextCursor: clients must follow the cursor, as MCP says anyway.
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
	// List: true tells the policy no call is made; rules on arguments cannot apply, so an
	// item is listed when some call of it could be allowed.
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
