package mcpproxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/fastmcp-auth/fastmcp-auth/internal/jsonrpc"
)

// MCP methods the proxy looks at; every other one is relayed without being looked at.
const (
	methodInitialize  = "initialize"
	methodInitialized = "notifications/initialized"
	methodCancelled   = "notifications/cancelled"
	methodProgress    = "notifications/progress"
)

// nullID is the id of an error answer to a message whose id could not be read.
var nullID = json.RawMessage("null")

// envelope is what the proxy reads of a JSON-RPC message: enough to route it.
type envelope = jsonrpc.Envelope

// idKey normalizes a JSON-RPC id so that the answer's id matches the request's however each
// side spelled it: strings by value, numbers by their canonical form.
func idKey(id json.RawMessage) string {
	id = bytes.TrimSpace(id)
	if len(id) == 0 || string(id) == "null" {
		return ""
	}
	if id[0] == '"' {
		var s string
		if json.Unmarshal(id, &s) == nil {
			return "s:" + s
		}
		return "r:" + string(id)
	}
	if f, err := strconv.ParseFloat(string(id), 64); err == nil {
		return "n:" + strconv.FormatFloat(f, 'g', -1, 64)
	}
	return "r:" + string(id)
}

// protocolVersionOf returns the protocolVersion of an initialize result.
func protocolVersionOf(env *envelope) string {
	var r struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	_ = json.Unmarshal(env.Result, &r)
	return r.ProtocolVersion
}

// metaProtocolVersion returns the per-request protocol version of the SEP-2575 draft
// (params._meta["io.modelcontextprotocol/protocolVersion"]), "" when absent.
func metaProtocolVersion(params json.RawMessage) string {
	const key = "io.modelcontextprotocol/protocolVersion"
	if !bytes.Contains(params, []byte(key)) {
		return "" // the common case, without decoding the params
	}
	var p struct {
		Meta map[string]any `json:"_meta"`
	}
	_ = json.Unmarshal(params, &p)
	v, _ := p.Meta[key].(string)
	return v
}

// requestName returns the tool name, prompt name or resource URI a request is about, for the
// Mcp-Name header of the SEP-2243 draft.
func requestName(method string, params json.RawMessage) string {
	var p struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	switch method {
	case "tools/call", "prompts/get":
		_ = json.Unmarshal(params, &p)
		return p.Name
	case "resources/read":
		_ = json.Unmarshal(params, &p)
		return p.URI
	}
	return ""
}

// rpcError is a JSON-RPC error object the proxy writes itself. Data carries httpStatus and,
// from the challenge, error and scope (see the Code constants), so a program can act on the
// failure without parsing Message.
type rpcError struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data,omitempty"`
}

func (e *rpcError) Error() string { return e.Message }

// readMessages calls fn with each JSON-RPC message of an upstream response: the body of an
// application/json answer (one message or a batch), or the data of each event of a
// text/event-stream. It stops when fn returns true, at the end of the body, or on an error.
func readMessages(resp *http.Response, fn func(msg []byte, env *envelope) bool) error {
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch ct {
	case "text/event-stream":
		return readSSE(resp.Body, func(data []byte) bool { return dispatch(data, fn) })
	case "application/json":
		// Bounded like a stdin line: a larger body is cut, fails to parse and is dropped.
		body, err := io.ReadAll(io.LimitReader(resp.Body, DefaultMaxLineLength))
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return nil
		}
		dispatch(body, fn)
		return nil
	default:
		return fmt.Errorf("unexpected content type %q", ct)
	}
}

// dispatch splits data into messages and calls fn on each; it reports whether fn asked to stop.
func dispatch(data []byte, fn func([]byte, *envelope) bool) bool {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return false
	}
	msgs, err := splitBatch(data)
	if err != nil {
		return false
	}
	for _, m := range msgs {
		// What is not JSON-RPC is dropped: stdout must carry valid messages only.
		env, err := jsonrpc.Parse(m)
		if err != nil {
			continue
		}
		if fn(m, env) {
			return true
		}
	}
	return false
}

// readSSE parses a server-sent event stream (the WHATWG EventSource format) and calls fn with
// the data of each event; it stops when fn returns true or the stream ends. An event cut off by
// the end of the stream is dropped, as the format requires.
func readSSE(r io.Reader, fn func(data []byte) bool) error {
	sc := bufio.NewScanner(r)
	// Lines beyond DefaultMaxLineLength end the stream with bufio.ErrTooLong.
	sc.Buffer(make([]byte, 16<<10), DefaultMaxLineLength)
	var data bytes.Buffer
	hasData := false
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			if hasData && fn(data.Bytes()) {
				return nil
			}
			data.Reset()
			hasData = false
			continue
		}
		if line[0] == ':' {
			continue // comment (keep-alive)
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		if string(field) == "data" {
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		}
		// "event", "id" and "retry" do not change what is relayed: the go-sdk and TypeScript
		// servers send every message as the default "message" event.
	}
	return sc.Err()
}

// challenge is what the proxy reads of a WWW-Authenticate: Bearer challenge ([RFC 6750]
// section 3).
//
// [RFC 6750]: https://www.rfc-editor.org/rfc/rfc6750
type challenge struct {
	Error       string // invalid_token, insufficient_scope, ...
	Description string // error_description
	Scope       string // space-separated scopes the resource requires
}

// parseChallenge reads the error, error_description and scope parameters of a Bearer
// challenge. It is lenient: a malformed header gives what could be read.
// The header comes from the server and holds no token, so its values may be quoted to the
// client.
func parseChallenge(h string) challenge {
	var c challenge
	rest := strings.TrimSpace(h)
	if len(rest) >= 6 && strings.EqualFold(rest[:6], "bearer") {
		rest = rest[6:]
	}
	for {
		rest = strings.TrimLeft(rest, " \t,")
		if rest == "" {
			return c
		}
		eq := strings.IndexByte(rest, '=')
		if eq < 0 {
			return c
		}
		name := strings.ToLower(strings.TrimSpace(rest[:eq]))
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		var value string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest) && rest[i] != '"'; i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
				}
				b.WriteByte(rest[i])
			}
			value = b.String()
			if i < len(rest) {
				i++
			}
			rest = rest[i:]
		} else {
			end := strings.IndexAny(rest, ", \t")
			if end < 0 {
				end = len(rest)
			}
			value, rest = rest[:end], rest[end:]
		}
		switch name {
		case "error":
			c.Error = value
		case "error_description":
			c.Description = value
		case "scope":
			c.Scope = value
		}
	}
}
