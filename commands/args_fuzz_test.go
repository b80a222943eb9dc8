package commands

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/internal/toolargs"
)

// fuzzTools are the input schemas of the two server tools (as in
// mcpserver/testdata/tools.golden) plus a schema with several types and extra properties.
var fuzzTools = []*mcp.Tool{
	{Name: "reverse_tool", InputSchema: map[string]any{"type": "object", "additionalProperties": false,
		"properties": map[string]any{"query": map[string]any{"type": "string"}}, "required": []any{"query"}}},
	{Name: "random_number_tool", InputSchema: map[string]any{"type": "object", "additionalProperties": false,
		"properties": map[string]any{"min": map[string]any{"type": "integer"}, "max": map[string]any{"type": "integer"}},
		"required":   []any{"min", "max"}}},
	{Name: "mixed", InputSchema: map[string]any{"type": "object",
		"properties": map[string]any{"n": map[string]any{"type": []any{"number", "null", "boolean"}}, "o": map[string]any{"type": "object"},
			"a": map[string]any{"type": "array"}, "s": map[string]any{}}}},
}

// callFlagValues says which flags of call take a value (the rest are booleans), as
// interspersedArgs reads them from the command's definitions.
var callFlagValues = map[string]bool{"json": false, "no-auth": false, "debug": false, "h": false, "help": false,
	"progress": true, "args": true, "server": true, "token": true, "client-id": true, "scope": true}

// FuzzCallArgs feeds arbitrary command lines (arguments separated by NUL) and --args JSON to
// the parsing path of `fastmcp-auth call`: flags among positionals, key=value and key:=json,
// then the schema-typed conversion. It must never panic; every refusal must be a usage error
// (exit 2); and what it accepts must be what was written: positionals keep their order, a
// key=value for a string parameter keeps its text byte for byte, a key:=json its JSON value,
// and no argument the schema forbids gets through.
func FuzzCallArgs(f *testing.F) {
	f.Add("reverse_tool\x00query=hi\x00--json", "", uint8(0))
	f.Add("random_number_tool\x00min=1\x00max:=10", "", uint8(1))
	f.Add("random_number_tool\x00--args\x00-", `{"min":1,"max":2}`, uint8(1))
	f.Add("mixed\x00n=null\x00o={\"a\":1}\x00a=[1,2]\x00s:=\"x\"\x00--\x00--json=1", `{"n":true}`, uint8(2))
	f.Add("reverse_tool\x00:=x\x00=y\x00q\x00--progress", "[]", uint8(0))
	f.Add("reverse_tool\x00query:={\"deep\":[[[[[]]]]]}\x00-h", "null", uint8(0))
	f.Add("mixed\x00n=1e400\x00n=NaN\x00a:=1", "{}", uint8(2))

	f.Fuzz(func(t *testing.T, argv, argsJSON string, which uint8) {
		args := strings.Split(argv, "\x00")
		flags, positional, err := splitInterspersed(args, func(name string) (bool, bool) {
			v, ok := callFlagValues[name]
			return ok, v
		})
		if err != nil {
			if ExitCode(err) != ExitUsage {
				t.Fatalf("splitInterspersed: %v is not a usage error", err)
			}
			return
		}
		if len(flags)+len(positional) > len(args) {
			t.Fatalf("%d flags and %d positionals out of %d arguments", len(flags), len(positional), len(args))
		}
		// Positionals are a subsequence of the arguments, in order.
		j := 0
		for _, a := range args {
			if j < len(positional) && a == positional[j] {
				j++
			}
		}
		if j != len(positional) {
			t.Fatalf("positionals %q are not in the order of %q", positional, args)
		}
		if len(positional) == 0 {
			return
		}
		raw, err := toolargs.Parse(positional[1:])
		if err != nil {
			if ExitCode(argsError(err)) != ExitUsage {
				t.Fatalf("toolargs.Parse: %v is not a usage error", err)
			}
			return
		}
		tool := fuzzTools[int(which)%len(fuzzTools)]
		argsFlag := ""
		for _, fl := range flags {
			if fl.name == "args" {
				argsFlag = fl.value
			}
		}
		got, err := toolargs.Build(tool, argsFlag, strings.NewReader(argsJSON), raw)
		if err != nil {
			if ExitCode(argsError(err)) != ExitUsage {
				t.Fatalf("toolargs.Build: %v is not a usage error", err)
			}
			return
		}
		schema := tool.InputSchema.(map[string]any)
		props := schema["properties"].(map[string]any)
		if schema["additionalProperties"] == false {
			for k := range got {
				if _, ok := props[k]; !ok {
					t.Fatalf("%s accepted the unknown argument %q", tool.Name, k)
				}
			}
		}
		for _, r := range lastPerKey(raw) {
			v, ok := got[r.Key]
			if !ok {
				t.Fatalf("argument %q lost", r.Key)
			}
			prop, _ := props[r.Key].(map[string]any)
			switch {
			case r.JSON:
				var want any
				_ = json.Unmarshal([]byte(r.Value), &want)
				if a, b := mustJSON(t, want), mustJSON(t, v); a != b {
					t.Fatalf("%s:=%s became %s", r.Key, r.Value, b)
				}
			case len(toolargs.SchemaTypes(prop)) == 0 || slices.Contains(toolargs.SchemaTypes(prop), "string"):
				if v != r.Value {
					t.Fatalf("%s=%q became %#v; a string parameter keeps its text", r.Key, r.Value, v)
				}
			}
		}
		if _, err := json.Marshal(got); err != nil {
			t.Fatalf("arguments cannot be sent as JSON: %v", err)
		}
	})
}

// lastPerKey keeps the last raw argument of each key: later arguments override earlier ones.
func lastPerKey(raw []toolargs.Raw) []toolargs.Raw {
	seen := map[string]int{}
	var out []toolargs.Raw
	for _, r := range raw {
		if i, ok := seen[r.Key]; ok {
			out[i] = r
			continue
		}
		seen[r.Key] = len(out)
		out = append(out, r)
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %#v: %v", v, err)
	}
	return string(b)
}
