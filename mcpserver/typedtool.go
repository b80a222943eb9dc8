package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	segjson "github.com/segmentio/encoding/json"
)

// typedTool is what the go-sdk's typed mcp.AddTool builds around a handler (v1.8.0:
// toolForErr in mcp/server.go, applySchema in mcp/tool.go), rebuilt so that a call whose
// arguments certainly satisfy the input schema skips the work that cannot change its outcome.
// For every call, the SDK decodes the arguments into a map, applies the schema's defaults,
// validates the map, encodes it again and decodes that into In; then it encodes Out, decodes it
// into a map, validates it against the output schema and encodes it once more. That was about
// a fifth of the server's CPU per reverse_tool call (CPU profile of BenchmarkHandlerCallTool).
//
// The answers are the SDK's, byte for byte (TestTypedToolMatchesSDK, and the wire golden):
//   - the tool is listed with the schemas the SDK infers from In and Out, resolved once here;
//   - arguments that fast accepts are decoded straight into In. fast must accept only
//     arguments that the schema validates and that have no defaults to apply;
//   - any other arguments take the SDK's path, step by step, with the same library, options
//     and error texts (decodeArgs);
//   - Out is encoded once, without being validated again: this is only for Out types whose
//     every value satisfies their inferred schema (all fields plain strings, as ReverseOutput),
//     for which the SDK's output validation cannot fail and its re-encoding gives the same bytes.
type typedTool[In, Out any] struct {
	tool    *mcp.Tool
	input   *jsonschema.Resolved
	handler mcp.ToolHandlerFor[In, Out]
	fast    func(json.RawMessage) (In, bool)
}

// mustTypedTool infers and resolves t's schemas from In and Out as mcp.AddTool does (with no
// SchemaCache), and panics as it does if that fails: a programming error, found at start-up.
func mustTypedTool[In, Out any](t *mcp.Tool, h mcp.ToolHandlerFor[In, Out], fast func(json.RawMessage) (In, bool)) *typedTool[In, Out] {
	tt := *t
	in, err := jsonschema.ForType(reflect.TypeFor[In](), &jsonschema.ForOptions{})
	if err != nil {
		panic(fmt.Sprintf("AddTool: tool %q: input schema: %v", t.Name, err))
	}
	resolved, err := in.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true})
	if err != nil {
		panic(fmt.Sprintf("AddTool: tool %q: input schema: %v", t.Name, err))
	}
	out, err := jsonschema.ForType(reflect.TypeFor[Out](), &jsonschema.ForOptions{})
	if err != nil {
		panic(fmt.Sprintf("AddTool: tool %q: output schema: %v", t.Name, err))
	}
	if _, err := out.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: true}); err != nil {
		panic(fmt.Sprintf("AddTool: tool %q: output schema: %v", t.Name, err))
	}
	tt.InputSchema, tt.OutputSchema = in, out
	return &typedTool[In, Out]{tool: &tt, input: resolved, handler: h, fast: fast}
}

// handle is the raw mcp.ToolHandler: arguments to In, the typed handler, Out to the result.
func (t *typedTool[In, Out]) handle(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	in, ok := t.fast(req.Params.Arguments)
	if !ok {
		var errRes *mcp.CallToolResult
		if in, errRes = t.decodeArgs(req.Params.Arguments); errRes != nil {
			return errRes, nil
		}
	}
	res, out, err := t.handler(ctx, req, in)
	if err != nil {
		// As the SDK: a JSON-RPC error is the call's answer, any other error a tool error.
		if wireErr, ok := err.(*jsonrpc.Error); ok {
			return nil, wireErr
		}
		return errorResult(err), nil
	}
	if res == nil {
		res = &mcp.CallToolResult{}
	}
	if res.InputRequests != nil {
		return res, nil // the SDK sends no output with input requests
	}
	outJSON, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("marshaling output: %w", err)
	}
	res.StructuredContent = json.RawMessage(outJSON)
	if res.Content == nil {
		res.Content = []mcp.Content{&mcp.TextContent{Text: string(outJSON)}}
	}
	return res, nil
}

// decodeArgs is the SDK's argument handling for a typed tool, with its error texts: decode into
// a map (a missing or null argument object is an empty or nil map), apply the schema's defaults,
// validate, encode again, and decode into In.
func (t *typedTool[In, Out]) decodeArgs(args json.RawMessage) (In, *mcp.CallToolResult) {
	var in In
	v := make(map[string]any)
	if len(args) > 0 {
		if err := sdkUnmarshal(args, &v); err != nil {
			return in, errorResult(fmt.Errorf("validating \"arguments\": %v", fmt.Errorf("unmarshaling arguments: %w", err)))
		}
	}
	var unmarshaled any = v
	if err := t.input.ApplyDefaults(&unmarshaled); err != nil {
		return in, errorResult(fmt.Errorf("validating \"arguments\": %v", fmt.Errorf("applying schema defaults:\n%w", err)))
	}
	if err := t.input.Validate(&unmarshaled); err != nil {
		return in, errorResult(fmt.Errorf("validating \"arguments\": %v", err))
	}
	withDefaults, err := json.Marshal(unmarshaled)
	if err != nil {
		return in, errorResult(fmt.Errorf("validating \"arguments\": %v", fmt.Errorf("marshalling with defaults: %v", err)))
	}
	if err := sdkUnmarshal(withDefaults, &in); err != nil {
		return in, errorResult(err)
	}
	return in, nil
}

// sdkDecodeFlags are the options of the go-sdk's JSON decoding (internal/json): object keys
// match struct fields case-sensitively, as JSON-RPC requires.
const sdkDecodeFlags = segjson.DontMatchCaseInsensitiveStructFields

// sdkUnmarshal decodes data as the go-sdk's internal/json.Unmarshal does. data is always one
// well-formed JSON value here (arguments the SDK has already parsed, or our own encoding), on
// which that function comes down to this call.
func sdkUnmarshal(data []byte, v any) error {
	_, err := segjson.Parse(data, v, sdkDecodeFlags)
	return err
}

// errorResult is a tool error, as the SDK makes it.
func errorResult(err error) *mcp.CallToolResult {
	var res mcp.CallToolResult
	res.SetError(err)
	return &res
}

// reverseArgs is ReverseInput with the query's absence, or null, visible.
type reverseArgs struct {
	Query *string `json:"query"`
}

// fastReverseInput accepts reverse_tool arguments that reverse_tool's input schema certainly
// validates: a JSON object whose only member is "query" (exact case; repeated is allowed, the
// last one wins as in the SDK) with a string value that is valid UTF-8. Anything else (no
// arguments, null, another member, another type, a key in other case, invalid UTF-8, which the
// SDK's re-encoding would replace with U+FFFD) takes the SDK's path.
func fastReverseInput(args json.RawMessage) (ReverseInput, bool) {
	var a reverseArgs
	if len(args) == 0 {
		return ReverseInput{}, false
	}
	if _, err := segjson.Parse(args, &a, sdkDecodeFlags|segjson.DisallowUnknownFields); err != nil || a.Query == nil || !utf8.ValidString(*a.Query) {
		return ReverseInput{}, false
	}
	return ReverseInput{Query: *a.Query}, true
}
