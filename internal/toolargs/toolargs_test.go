package toolargs

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// testTool has the schema the go-sdk infers for random_number_tool, plus a few more types.
var testTool = &mcp.Tool{Name: "t", InputSchema: map[string]any{
	"type": "object",
	"properties": map[string]any{
		"min":   map[string]any{"type": "integer"},
		"max":   map[string]any{"type": "integer"},
		"ratio": map[string]any{"type": "number"},
		"loud":  map[string]any{"type": "boolean"},
		"query": map[string]any{"type": "string"},
		"tags":  map[string]any{"type": "array"},
		"opts":  map[string]any{"type": "object"},
		"maybe": map[string]any{"type": []any{"null", "integer"}},
		"any":   map[string]any{},
	},
	"required":             []any{"min"},
	"additionalProperties": false,
}}

func TestBuild(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		argsFlag string
		stdin    string
		want     map[string]any
		wantErr  string // substring of a usage error
	}{
		{"integer", []string{"min=1"}, "", "", map[string]any{"min": int64(1)}, ""},
		{"negative integer", []string{"min=-3"}, "", "", map[string]any{"min": int64(-3)}, ""},
		{"number", []string{"min=1", "ratio=0.5"}, "", "", map[string]any{"min": int64(1), "ratio": 0.5}, ""},
		{"boolean", []string{"min=1", "loud=TRUE"}, "", "", map[string]any{"min": int64(1), "loud": true}, ""},
		{"string stays string", []string{"min=1", "query=42"}, "", "", map[string]any{"min": int64(1), "query": "42"}, ""},
		{"value with = inside", []string{"min=1", "query=a=b"}, "", "", map[string]any{"min": int64(1), "query": "a=b"}, ""},
		{"empty string", []string{"min=1", "query="}, "", "", map[string]any{"min": int64(1), "query": ""}, ""},
		{"untyped stays string", []string{"min=1", "any=7"}, "", "", map[string]any{"min": int64(1), "any": "7"}, ""},
		{"union null|integer", []string{"min=1", "maybe=null"}, "", "", map[string]any{"min": int64(1), "maybe": nil}, ""},
		{"union null|integer number", []string{"min=1", "maybe=5"}, "", "", map[string]any{"min": int64(1), "maybe": int64(5)}, ""},
		{"array from key=value", []string{"min=1", `tags=["a"]`}, "", "", map[string]any{"min": int64(1), "tags": []any{"a"}}, ""},
		{"raw json number", []string{"min:=2"}, "", "", map[string]any{"min": float64(2)}, ""},
		{"raw json object", []string{"min:=1", `opts:={"a":[1,true]}`}, "", "", map[string]any{"min": float64(1), "opts": map[string]any{"a": []any{float64(1), true}}}, ""},
		{"raw json string", []string{`query:="x"`, "min=1"}, "", "", map[string]any{"min": int64(1), "query": "x"}, ""},
		{"--args then overrides", []string{"min=9"}, `{"min": 1, "query": "q"}`, "", map[string]any{"min": int64(9), "query": "q"}, ""},
		{"--args from stdin", nil, "-", `{"min": 3}`, map[string]any{"min": float64(3)}, ""},
		{"raw json integer for number", []string{"min:=1", "ratio:=2"}, "", "", map[string]any{"min": float64(1), "ratio": float64(2)}, ""},
		{"raw json whole float for integer", []string{"min:=3.0"}, "", "", map[string]any{"min": float64(3)}, ""},
		{"raw json null in union", []string{"min:=1", "maybe:=null"}, "", "", map[string]any{"min": float64(1), "maybe": nil}, ""},
		{"raw json anything for untyped", []string{"min:=1", "any:=[1]"}, "", "", map[string]any{"min": float64(1), "any": []any{float64(1)}}, ""},

		{"not an integer", []string{"min=abc"}, "", "", nil, "argument min=abc: t expects an integer (or write min:=<json>)"},
		{"float for integer", []string{"min=1.5"}, "", "", nil, "expects an integer"},
		{"bad boolean", []string{"min=1", "loud=yes"}, "", "", nil, "expects a boolean"},
		{"union error names both", []string{"min=1", "maybe=x"}, "", "", nil, "expects null or an integer"},
		{"unknown parameter lists the known ones", []string{"min=1", "nope=1"}, "", "", nil, `t has no parameter "nope"; it takes any (any), loud (boolean), max (integer), maybe (null|integer), min (integer, required), opts (object), query (string), ratio (number), tags (array)`},
		{"unknown parameter in --args", nil, `{"min":1,"x":2}`, "", nil, `no parameter "x"`},
		{"missing required", []string{"max=1"}, "", "", nil, "missing argument min=...: t takes"},
		{"no equals sign", []string{"min"}, "", "", nil, `argument "min": write key=value`},
		{"empty key", []string{"=1"}, "", "", nil, `argument "=1"`},
		{"empty key json", []string{":=1"}, "", "", nil, `argument ":=1"`},
		{"bad raw json", []string{"min:=abc"}, "", "", nil, "argument min:=abc is not valid JSON"},
		{"raw json integer for string", []string{"min=1", "query:=123"}, "", "", nil, "argument query:=123: t expects a string, not an integer (write query=123 for a string)"},
		{"raw json string for integer", []string{`min:="1"`}, "", "", nil, `argument min:="1": t expects an integer, not a string`},
		{"raw json fraction for integer", []string{"min:=1.5"}, "", "", nil, "t expects an integer, not a number"},
		{"raw json object for array", []string{"min=1", "tags:={}"}, "", "", nil, "t expects an array, not an object"},
		{"raw json string for union", []string{"min=1", `maybe:="x"`}, "", "", nil, "t expects null or an integer, not a string"},
		{"--args not an object", nil, `[1]`, "", nil, "--args must be a JSON object"},
		{"--args null", nil, `null`, "", nil, "--args must be a JSON object"},
		{"--args - not json", nil, "-", "nope", nil, "--args must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := func() (map[string]any, error) {
				raw, err := Parse(tt.args)
				if err != nil {
					return nil, err
				}
				return Build(testTool, tt.argsFlag, strings.NewReader(tt.stdin), raw)
			}()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrUsage) {
					t.Fatalf("error = %v, want a usage error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("arguments (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildSchemaWithoutProperties(t *testing.T) {
	t.Parallel()
	// A schema that says nothing about its parameters accepts any name, as text.
	tool := &mcp.Tool{Name: "free", InputSchema: map[string]any{"type": "object"}}
	raw, _ := Parse([]string{"a=1"})
	got, err := Build(tool, "", nil, raw)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"a": "1"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
