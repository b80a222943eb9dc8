package mcpproxy

import (
	"encoding/json"
	"errors"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// tokenError is the answer when the token supply fails: its message as is, marked for the
// user when the user must act (consent, a new sign-in; see auth.InteractionRequiredError).
func tokenError(err error) *rpcError {
	var ir *auth.InteractionRequiredError
	if errors.As(err, &ir) {
		data := map[string]any{"error": ir.Code}
		if ir.Claims != "" {
			data["claims"] = ir.Claims
		}
		return &rpcError{Code: CodeUnauthorized, Message: err.Error(), Data: data, userAction: true}
	}
	return &rpcError{Code: CodeUnauthorized, Message: err.Error()}
}

// writeToolError answers a tools/call with a tool result whose isError is true and whose
// text is msg (MCP "Tool Execution Errors"): what the user must do, shown by the host.
func (p *proxy) writeToolError(id json.RawMessage, msg string) {
	type text struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	type result struct {
		Content []text `json:"content"`
		IsError bool   `json:"isError"`
	}
	out, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  result          `json:"result"`
	}{"2.0", id, result{Content: []text{{Type: "text", Text: msg}}, IsError: true}})
	if err != nil {
		p.log.Error("could not encode a tool error", "error", err)
		return
	}
	p.out.write(out, &envelope{ID: id})
}

// refreshError is the answer when the token could not be refreshed after a 401: the
// supply's own answer when the user must act, else the server's challenge.
func refreshError(ch challenge, err error) *rpcError {
	if re := tokenError(err); re.userAction {
		return re
	}
	return authError(ch, "it could not be refreshed: "+err.Error())
}

// writeFailure answers the client's request env with err: a tool result with isError for a
// tools/call failing for want of the user's action, a JSON-RPC error otherwise.
func (p *proxy) writeFailure(env *envelope, err error) {
	var re *rpcError
	if env.Method == methodToolsCall && errors.As(err, &re) && re.userAction {
		p.writeToolError(env.ID, re.Message)
		return
	}
	p.writeError(env.ID, err)
}
