package clienv

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDotEnv(t *testing.T) {
	in := `# comment
FASTMCP_AUTH_A=plain
export FASTMCP_AUTH_B = spaced
FASTMCP_AUTH_C="double # not a comment"
FASTMCP_AUTH_D='single'
FASTMCP_AUTH_E=value # trailing comment

FASTMCP_AUTH_F=
`
	got, err := ParseDotEnv(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"FASTMCP_AUTH_A": "plain", "FASTMCP_AUTH_B": "spaced", "FASTMCP_AUTH_C": "double # not a comment",
		"FASTMCP_AUTH_D": "single", "FASTMCP_AUTH_E": "value", "FASTMCP_AUTH_F": "",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"NOEQUALS\n", "=value\n", "TWO WORDS=x\n"} {
		if _, err := ParseDotEnv(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ParseDotEnv(%q) error = %v, want one naming line 1", bad, err)
		}
	}
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		format  string
		debug   bool
		want    []string // substrings of the output of one Debug and one Info line
		wantErr bool
	}{
		{format: "", want: []string{"level=INFO msg=shown"}},
		{format: "text", debug: true, want: []string{"level=DEBUG msg=detail", "level=INFO msg=shown"}},
		{format: "json", want: []string{`"level":"INFO","msg":"shown"`}},
		{format: "yaml", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			logger, err := NewLogger(&buf, tt.format, tt.debug)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("NewLogger(%q) succeeded, want an error", tt.format)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			logger.Debug("detail")
			logger.Info("shown")
			out := buf.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output %q lacks %q", out, w)
				}
			}
			if !tt.debug && strings.Contains(out, "detail") {
				t.Errorf("debug line logged without debug: %q", out)
			}
		})
	}
}
