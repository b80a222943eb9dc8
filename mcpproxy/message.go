package mcpproxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
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
// section 3). The header comes from the server and holds no token, so its values may be
// quoted to the client.
//
// [RFC 6750]: https://www.rfc-editor.org/rfc/rfc6750
type challenge struct {
	Error       string // invalid_token, insufficient_scope, ...
	Description string // error_description
	Scope       string // space-separated scopes the resource requires
}

// bearerChallenge reads the error, error_description and scope of the Bearer challenge of a
// WWW-Authenticate header (auth.BearerChallenge); a header without one gives none.
func bearerChallenge(h string) challenge {
	p := auth.BearerChallenge(h)
	return challenge{Error: p["error"], Description: p["error_description"], Scope: p["scope"]}
}
