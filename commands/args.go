package commands

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/urfave/cli/v2"
)

// maxArgsStdin bounds the JSON object read by --args - , so that a runaway pipe (or
// /dev/zero by mistake) ends in a usage error rather than exhausting memory.
const maxArgsStdin = 16 << 20

// flagArg is one flag found among the positional arguments.
type flagArg struct {
	name, value string
}

// splitInterspersed separates flags from positional arguments in args, so that flags may
// follow the tool name and its arguments (`call reverse_tool query=hi --json`), as with gh and
// kubectl: urfave/cli, like the standard flag package, stops at the first positional.
// takesValue reports whether a flag name is known and whether it takes a value; a flag that
// takes one consumes the next argument unless written --name=value. "--" ends the flags.
func splitInterspersed(args []string, takesValue func(name string) (known, hasValue bool)) (flags []flagArg, positional []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		// "--" lets a tool argument that starts with "-" through (call t -- -x=1).
		if a == "--" {
			return flags, append(positional, args[i+1:]...), nil
		}
		// A lone "-" is positional, as in most CLIs (it usually means stdin).
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, value, hasEq := strings.Cut(name, "=")
		// An unknown flag is an error, not a positional: guessing would send a mistyped
		// --jsn to the tool as an argument, or run with a setting silently ignored.
		known, needsValue := takesValue(name)
		if !known || name == "" {
			return nil, nil, usageErrorf("unknown flag %s (see --help)", strings.SplitN(a, "=", 2)[0])
		}
		switch {
		case hasEq: // --name=value: the value is already cut off
		case needsValue:
			if i+1 >= len(args) {
				return nil, nil, usageErrorf("flag --%s needs a value", name)
			}
			i++
			value = args[i]
		default:
			value = "true"
		}
		flags = append(flags, flagArg{name: name, value: value})
	}
	return flags, positional, nil
}

// interspersedArgs applies the flags that stand among the positional arguments of c (after
// urfave/cli has parsed those before them) and returns the positional arguments. What takes a
// value is read from the command's own flag definitions. It returns showHelp when -h or
// --help appeared.
func interspersedArgs(c *cli.Context) (positional []string, showHelp bool, err error) {
	// primary maps every name and alias to the flag's first name (what c.Set expects);
	// valued says whether the flag consumes the next argument. A flag type that cannot say
	// is taken to take a value: the safer guess, as it never turns a value into a tool name.
	primary := map[string]string{}
	valued := map[string]bool{}
	for _, f := range c.Command.Flags {
		names := f.Names()
		tv := true
		if df, ok := f.(cli.DocGenerationFlag); ok {
			tv = df.TakesValue()
		}
		for _, n := range names {
			primary[n] = names[0]
			valued[n] = tv
		}
	}
	flags, positional, err := splitInterspersed(c.Args().Slice(), func(name string) (bool, bool) {
		if name == "h" || name == "help" {
			return true, false
		}
		_, ok := primary[name]
		return ok, valued[name]
	})
	if err != nil {
		return nil, false, err
	}
	for _, f := range flags {
		if f.name == "h" || f.name == "help" {
			return positional, true, nil
		}
		// c.Set goes through the flag's own parser, so a late --progress=x or --json=maybe
		// is checked exactly as if it had come first. A value set here beats the env var,
		// as a flag should.
		if err := c.Set(primary[f.name], f.value); err != nil {
			return nil, false, usageErrorf("invalid value %q for flag --%s: %v", f.value, f.name, err)
		}
	}
	return positional, false, nil
}

// rawArg is one key=value or key:=json argument before the schema is consulted.
type rawArg struct {
	key, value string
	json       bool
}

// parseRawArgs reads key=value (a string, converted later to the schema's type) and
// key:=json (raw JSON) arguments.
func parseRawArgs(args []string) ([]rawArg, error) {
	out := make([]rawArg, 0, len(args))
	for _, a := range args {
		// The first "=" splits, so a value may itself hold "=" (filter=a=b); a key ending in
		// ":" marks raw JSON. No "=" at all, or an empty key, is a usage error rather than a
		// guess at what was meant.
		i := strings.IndexByte(a, '=')
		if i <= 0 || (i == 1 && a[0] == ':') {
			return nil, usageErrorf("argument %q: write key=value, or key:=json for a number, boolean, object or array", a)
		}
		r := rawArg{key: a[:i], value: a[i+1:]}
		if strings.HasSuffix(r.key, ":") {
			r.key, r.json = r.key[:len(r.key)-1], true
			// Checked now, before any sign-in or connection, so that a typo is exit 2 even
			// when the server is down.
			var v any
			if err := json.Unmarshal([]byte(r.value), &v); err != nil {
				return nil, usageErrorf("argument %s:=%s is not valid JSON%s (use %s=%s for a string)", r.key, r.value, jsonErrSuffix(err), r.key, r.value)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// checkArgsFlag rejects an --args value that is not a JSON object before connecting ("-" is
// read from stdin later, when the arguments are built).
func checkArgsFlag(argsFlag string) error {
	if argsFlag == "" || argsFlag == "-" {
		return nil
	}
	var args map[string]any
	if err := json.Unmarshal([]byte(argsFlag), &args); err != nil || args == nil {
		return usageErrorf("--args must be a JSON object such as '{\"query\": \"hi\"}'%s", jsonErrSuffix(err))
	}
	return nil
}

// toolArguments builds a tool's arguments: the JSON object of --args (or stdin for "-"),
// then each key=value or key:=json argument over it. key=value is converted to the type the
// tool's input schema declares; a key the schema does not know, or a missing required one, is
// a usage error naming the tool's parameters.
func toolArguments(tool *mcp.Tool, argsFlag string, stdin io.Reader, raw []rawArg) (map[string]any, error) {
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
		if !r.json {
			prop, _ := props[r.key].(map[string]any)
			v, err := coerceArg(r.value, prop)
			if err != nil {
				return nil, usageErrorf("argument %s=%s: %s expects %v (or write %s:=<json>)", r.key, r.value, tool.Name, err, r.key)
			}
			args[r.key] = v
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(r.value), &v); err != nil {
			return nil, usageErrorf("argument %s:=%s is not valid JSON%s (use %s=%s for a string)", r.key, r.value, jsonErrSuffix(err), r.key, r.value)
		}
		args[r.key] = v
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
		desc := strings.Join(schemaTypes(prop), "|")
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

// schemaTypes returns the JSON Schema "type" of a property as a list.
func schemaTypes(prop map[string]any) []string {
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
	types := schemaTypes(prop)
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
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = article(t)
	}
	return nil, fmt.Errorf("%s", strings.Join(names, " or "))
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
