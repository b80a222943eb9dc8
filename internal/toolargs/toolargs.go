// Package toolargs builds the arguments of an MCP tool call from a command line: a JSON
// object (--args, or stdin), then key=value and key:=json words over it, each key=value
// converted to the type the tool's input schema declares, and the names checked against the
// schema, so that `call random_number_tool min=1 max=9` sends integers and a typo is refused
// before any round trip. Every refusal wraps ErrUsage (the CLI's exit 2).
package toolargs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ErrUsage is wrapped by every refusal of a malformed or unknown argument: the remedy is to
// fix the command line, and the message says how.
var ErrUsage = errors.New("usage error")

// usageError is a refusal whose message is the whole text (ErrUsage does not show in it).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return ErrUsage }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// maxArgsStdin bounds the JSON object read by --args - , so that a runaway pipe (or
// /dev/zero by mistake) ends in a usage error rather than exhausting memory.
const maxArgsStdin = 16 << 20

// Raw is one key=value or key:=json argument before the schema is consulted.
type Raw struct {
	Key, Value string
	JSON       bool // written key:=json
}

// Parse reads key=value (a string, converted later to the schema's type) and
// key:=json (raw JSON) arguments.
func Parse(args []string) ([]Raw, error) {
	out := make([]Raw, 0, len(args))
	for _, a := range args {
		// The first "=" splits, so a value may itself hold "=" (filter=a=b); a key ending in
		// ":" marks raw JSON. No "=" at all, or an empty key, is a usage error rather than a
		// guess at what was meant.
		i := strings.IndexByte(a, '=')
		if i <= 0 || (i == 1 && a[0] == ':') {
			return nil, usageErrorf("argument %q: write key=value, or key:=json for a number, boolean, object or array", a)
		}
		r := Raw{Key: a[:i], Value: a[i+1:]}
		if strings.HasSuffix(r.Key, ":") {
			r.Key, r.JSON = r.Key[:len(r.Key)-1], true
			// Checked now, before any sign-in or connection, so that a typo is exit 2 even
			// when the server is down.
			var v any
			if err := json.Unmarshal([]byte(r.Value), &v); err != nil {
				return nil, usageErrorf("argument %s:=%s is not valid JSON%s (use %s=%s for a string)", r.Key, r.Value, jsonErrSuffix(err), r.Key, r.Value)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// CheckObject rejects an --args value that is not a JSON object before connecting ("-" is
// read from stdin later, when the arguments are built).
func CheckObject(argsFlag string) error {
	if argsFlag == "" || argsFlag == "-" {
		return nil
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(argsFlag), &args); err != nil || args == nil {
		return usageErrorf("--args must be a JSON object such as '{\"query\": \"hi\"}'%s", jsonErrSuffix(err))
	}
	return nil
}

// Build builds a tool's arguments: the JSON object of --args (or stdin for "-"),
// then each key=value or key:=json argument over it. key=value is converted to the type the
// tool's input schema declares; a key the schema does not know, or a missing required one, is
// a usage error naming the tool's parameters.
func Build(tool *mcp.Tool, argsFlag string, stdin io.Reader, raw []Raw) (map[string]any, error) {
	args := map[string]any{}
	if argsFlag != "" {
		data := []byte(argsFlag)
		if argsFlag == "-" {
			var err error
			if data, err = io.ReadAll(io.LimitReader(stdin, maxArgsStdin+1)); err != nil {
				return nil, fmt.Errorf("could not read --args from stdin: %w", err)
			}
			if len(data) > maxArgsStdin {
				return nil, usageErrorf("--args -: the JSON on stdin is larger than %d MiB", maxArgsStdin>>20)
			}
		}
		if err := json.Unmarshal(data, &args); err != nil || args == nil {
			return nil, usageErrorf("--args must be a JSON object such as '{\"query\": \"hi\"}'%s", jsonErrSuffix(err))
		}
	}
	// The schema comes from tools/list. Converting by it lets `call random_number_tool
	// min=1 max=9` send integers, so the everyday form needs no JSON quoting.
	schema, _ := tool.InputSchema.(map[string]any)
	props, _ := schema["properties"].(map[string]any)
	for _, r := range raw {
		if !r.JSON {
			prop, _ := props[r.Key].(map[string]any)
			v, err := coerceArg(r.Value, prop)
			if err != nil {
				return nil, usageErrorf("argument %s=%s: %s expects %v (or write %s:=<json>)", r.Key, r.Value, tool.Name, err, r.Key)
			}
			args[r.Key] = v
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(r.Value), &v); err != nil {
			return nil, usageErrorf("argument %s:=%s is not valid JSON%s (use %s=%s for a string)", r.Key, r.Value, jsonErrSuffix(err), r.Key, r.Value)
		}
		// Checked against the schema here, as key=value is: otherwise a wrong type is the
		// server's validation error after a round trip (exit 1), not exit 2 with a hint.
		prop, _ := props[r.Key].(map[string]any)
		if types := SchemaTypes(prop); len(types) > 0 && !jsonIsOf(v, types) {
			hint := ""
			if slices.Contains(types, "string") {
				hint = fmt.Sprintf(" (write %s=%s for a string)", r.Key, r.Value)
			}
			return nil, usageErrorf("argument %s:=%s: %s expects %s, not %s%s", r.Key, r.Value, tool.Name, expected(types), article(jsonType(v)), hint)
		}
		args[r.Key] = v
	}
	// Checked here rather than left to the server: a typo in a name is then exit 2 with
	// the list of parameters, not a tool error (exit 1) after a round trip.
	if err := checkArgNames(tool, schema, args); err != nil {
		return nil, err
	}
	return args, nil
}

// jsonErrSuffix is ": <decoder error>" for a message, or "" when err is nil.
func jsonErrSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// checkArgNames rejects names the schema does not know (unless it allows additional
// properties, or declares none at all) and missing required ones.
func checkArgNames(tool *mcp.Tool, schema map[string]any, args map[string]any) error {
	// A schema with no properties and no additionalProperties says nothing about names, so
	// it is trusted to accept any; additionalProperties false (what the go-sdk infers for Go
	// structs) makes the named properties the whole list.
	props, hasProps := schema["properties"].(map[string]any)
	extra, hasExtra := schema["additionalProperties"]
	allowExtra := (!hasProps && !hasExtra) || (hasExtra && extra != false)
	if !allowExtra {
		for _, k := range sortedKeys(args) {
			if _, ok := props[k]; !ok {
				return usageErrorf("%s has no parameter %q; it takes %s", tool.Name, k, describeParams(schema))
			}
		}
	}
	required, _ := schema["required"].([]any)
	for _, r := range required {
		if name, ok := r.(string); ok {
			if _, set := args[name]; !set {
				return usageErrorf("missing argument %s=...: %s takes %s", name, tool.Name, describeParams(schema))
			}
		}
	}
	return nil
}

// describeParams lists a schema's parameters: "max (integer, required), min (integer, required)".
func describeParams(schema map[string]any) string {
	props, _ := schema["properties"].(map[string]any)
	if len(props) == 0 {
		return "no parameters"
	}
	required, _ := schema["required"].([]any)
	var parts []string
	for _, name := range sortedKeys(props) {
		prop, _ := props[name].(map[string]any)
		desc := strings.Join(SchemaTypes(prop), "|")
		if desc == "" {
			desc = "any"
		}
		if slices.Contains(required, any(name)) {
			desc += ", required"
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", name, desc))
	}
	return strings.Join(parts, ", ")
}

// sortedKeys returns the keys of m in order, so messages are the same from run to run.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// SchemaTypes returns the JSON Schema "type" of a property as a list.
func SchemaTypes(prop map[string]any) []string {
	switch t := prop["type"].(type) {
	case string:
		return []string{t}
	case []any:
		var out []string
		for _, v := range t {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// coerceArg converts the text of key=value to the type the property declares. A string type,
// or no declared type, keeps the text; otherwise the first type the text parses as wins.
// The error names the expected type(s).
func coerceArg(text string, prop map[string]any) (any, error) {
	types := SchemaTypes(prop)
	if len(types) == 0 || slices.Contains(types, "string") {
		return text, nil
	}
	for _, t := range types {
		switch t {
		case "integer":
			if n, err := strconv.ParseInt(text, 10, 64); err == nil {
				return n, nil
			}
		case "number":
			// Inf and NaN parse but have no JSON form: encoding the request would fail.
			if f, err := strconv.ParseFloat(text, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return f, nil
			}
		case "boolean":
			switch strings.ToLower(text) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		case "null":
			if text == "null" {
				return nil, nil
			}
		case "object":
			var v map[string]any
			if json.Unmarshal([]byte(text), &v) == nil && v != nil {
				return v, nil
			}
		case "array":
			var v []any
			if json.Unmarshal([]byte(text), &v) == nil && v != nil {
				return v, nil
			}
		}
	}
	return nil, fmt.Errorf("%s", expected(types))
}

// expected names the JSON types of a schema for a message: "an integer or null".
func expected(types []string) string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = article(t)
	}
	return strings.Join(names, " or ")
}

// jsonType is the JSON Schema type of a decoded JSON value; a whole number is an integer.
func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if v == math.Trunc(v) {
			return "integer"
		}
		return "number"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return "unknown"
}

// jsonIsOf reports whether a decoded JSON value has one of the schema's types (JSON Schema:
// every integer is also a number). An unknown type name is trusted to accept it.
func jsonIsOf(v any, types []string) bool {
	got := jsonType(v)
	for _, t := range types {
		switch t {
		case got:
			return true
		case "number":
			if got == "integer" {
				return true
			}
		case "string", "integer", "boolean", "null", "object", "array":
		default:
			return true
		}
	}
	return false
}

// article names a JSON type for a message: "an integer", "a number".
func article(t string) string {
	switch t {
	case "integer", "object", "array":
		return "an " + t
	case "null":
		return "null"
	}
	return "a " + t
}
