package commands

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitInterspersed(t *testing.T) {
	t.Parallel()
	// takes a value: server, progress, args, scope; booleans: json, no-auth
	valued := map[string]bool{"server": true, "progress": true, "args": true, "scope": true, "json": false, "no-auth": false}
	lookup := func(name string) (bool, bool) { v, ok := valued[name]; return ok, v }
	tests := []struct {
		name     string
		args     []string
		wantFlag []flagArg
		wantPos  []string
		wantErr  string
	}{
		{"positionals only", []string{"reverse_tool", "query=hi"}, nil, []string{"reverse_tool", "query=hi"}, ""},
		{"bool flag after", []string{"reverse_tool", "query=hi", "--json"},
			[]flagArg{{"json", "true"}}, []string{"reverse_tool", "query=hi"}, ""},
		{"valued flag takes the next argument", []string{"reverse_tool", "--progress", "plain", "query=hi"},
			[]flagArg{{"progress", "plain"}}, []string{"reverse_tool", "query=hi"}, ""},
		{"name=value form, single dash", []string{"reverse_tool", "-server=http://x/mcp", "--json=false"},
			[]flagArg{{"server", "http://x/mcp"}, {"json", "false"}}, []string{"reverse_tool"}, ""},
		{"--args - keeps the dash as its value", []string{"reverse_tool", "--args", "-"},
			[]flagArg{{"args", "-"}}, []string{"reverse_tool"}, ""},
		{"a lone dash is positional", []string{"reverse_tool", "-"}, nil, []string{"reverse_tool", "-"}, ""},
		{"-- ends flags", []string{"reverse_tool", "--", "--json", "q=--x"}, nil, []string{"reverse_tool", "--json", "q=--x"}, ""},
		{"value that looks like a flag is taken", []string{"t", "--scope", "--json"},
			[]flagArg{{"scope", "--json"}}, []string{"t"}, ""},
		{"repeated flag kept in order", []string{"t", "--scope", "a", "--scope=b"},
			[]flagArg{{"scope", "a"}, {"scope", "b"}}, []string{"t"}, ""},
		{"unknown flag", []string{"t", "--bogus"}, nil, nil, "unknown flag --bogus"},
		{"unknown flag with value", []string{"t", "--bogus=1"}, nil, nil, "unknown flag --bogus"},
		{"missing value", []string{"t", "--server"}, nil, nil, "flag --server needs a value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			flags, pos, err := splitInterspersed(tt.args, lookup)
			if wantUsageError(t, err, tt.wantErr) {
				return
			}
			if diff := cmp.Diff(tt.wantFlag, flags, cmp.AllowUnexported(flagArg{})); diff != "" {
				t.Errorf("flags (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPos, pos); diff != "" {
				t.Errorf("positionals (-want +got):\n%s", diff)
			}
		})
	}
}
