package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/fastmcp-auth/fastmcp-auth/internal/jsonrpc"
)

// MCP methods the gateway looks at. Every other method passes without being looked at.
const (
	methodInitialize    = "initialize"
	methodProgress      = "notifications/progress"
	methodToolsCall     = "tools/call"
	methodToolsList     = "tools/list"
	methodPromptsGet    = "prompts/get"
	methodPromptsList   = "prompts/list"
	methodResourcesRead = "resources/read"
	methodResourcesList = "resources/list"
	methodTemplatesList = "resources/templates/list"
	methodSubscribe     = "resources/subscribe"
	methodUnsubscribe   = "resources/unsubscribe"
	methodComplete      = "completion/complete"
	methodSetLevel      = "logging/setLevel"
)

// JSON-RPC error codes the gateway answers with itself.
const (
	// codeInvalidParams is JSON-RPC's "invalid params", which MCP uses for an unknown tool or
	// prompt: a denied one gets exactly that answer, so a caller cannot tell them apart.
	codeInvalidParams = -32602
	// codeResourceNotFound is MCP's "resource not found" (specification, server/resources).
	codeResourceNotFound = -32002
	// CodeUpstreamEnded answers the calls in flight when the session's upstream server exits
	// or the session is closed under them; the session is then gone (404 afterwards).
	CodeUpstreamEnded = -32034
	// CodeUpstreamUnavailable answers a request the upstream could not be sent.
	CodeUpstreamUnavailable = -32035
	codeInvalidRequest      = -32600
	codeParseError          = -32700
)

// message is what the gateway reads of a JSON-RPC message; the bytes themselves are relayed.
type message = jsonrpc.Envelope

// idKey normalizes an id (a request id or a progress token) so that "1", 1 and 1.0 meet.
var idKey = jsonrpc.IDKey

// splitBody splits a POST body into messages: one object, or a batch (an array).
func splitBody(body []byte) ([][]byte, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, errors.New("empty body")
	}
	return jsonrpc.SplitBatch(body)
}

// compact makes raw one line: the stdio transport frames messages by newline, so a
// pretty-printed request from a client must lose its line breaks before it reaches a child.
func compact(raw []byte) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// errorResponse is a JSON-RPC error answer to id.
func errorResponse(id json.RawMessage, code int, msg string, data any) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	e := map[string]any{"code": code, "message": msg}
	if data != nil {
		e["data"] = data
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "error": e})
	return b
}

// callParams are the parameters of the requests the policy looks at.
type callParams struct {
	Name      string         `json:"name"`
	URI       string         `json:"uri"`
	Arguments map[string]any `json:"arguments"`
	Ref       *struct {
		Type string `json:"type"`
		Name string `json:"name"`
		URI  string `json:"uri"`
	} `json:"ref"`
	Meta struct {
		ProgressToken json.RawMessage `json:"progressToken"`
	} `json:"_meta"`
}

// parseParams reads the params the policy needs; absent params are empty ones (a tools/list
// without params is valid), malformed ones an error the client is told about.
func parseParams(raw json.RawMessage) (*callParams, error) {
	var p callParams
	if len(raw) == 0 {
		return &p, nil
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("params: %w", err)
	}
	return &p, nil
}

// progressTokenOf returns the progress token of a request or progress notification ("" when
// there is none).
func progressTokenOf(m *message) string {
	var p struct {
		ProgressToken json.RawMessage `json:"progressToken"`
		Meta          struct {
			ProgressToken json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
	}
	// Most messages carry no token: a byte search spares them a second decode of params.
	if len(m.Params) == 0 || !bytes.Contains(m.Params, []byte("progressToken")) {
		return ""
	}
	_ = json.Unmarshal(m.Params, &p)
	// A request carries it in _meta; the progress notification, at the top of params.
	if m.Method == methodProgress {
		return idKey(p.ProgressToken)
	}
	return idKey(p.Meta.ProgressToken)
}

// withID returns raw with its id replaced; every other field passes as raw JSON. An
// unreadable message is returned as it is (the id cannot be restored, but nothing is lost).
func withID(raw []byte, id json.RawMessage) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	m["id"] = id
	return mustJSON(m)
}

// progressTokenRaw returns params._meta.progressToken as sent, nil without one.
func progressTokenRaw(params json.RawMessage) json.RawMessage {
	if !bytes.Contains(params, []byte("progressToken")) {
		return nil
	}
	var p struct {
		Meta struct {
			ProgressToken json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
	}
	_ = json.Unmarshal(params, &p)
	return p.Meta.ProgressToken
}

// withProgressToken returns params with _meta.progressToken replaced.
func withProgressToken(params, tok json.RawMessage) json.RawMessage {
	var p map[string]json.RawMessage
	if json.Unmarshal(params, &p) != nil {
		return params
	}
	// Other _meta fields (a client's own extensions) are kept beside the new token.
	var meta map[string]json.RawMessage
	_ = json.Unmarshal(p["_meta"], &meta)
	if meta == nil {
		meta = map[string]json.RawMessage{}
	}
	meta["progressToken"] = tok
	p["_meta"] = mustJSON(meta)
	return mustJSON(p)
}

// mustJSON encodes values the gateway builds itself (maps of raw JSON, strings, numbers),
// which always encode; the error is therefore ignored.
func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
