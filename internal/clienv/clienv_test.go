package clienv

import (
	"bytes"
	"os"
	"path/filepath"
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
	for _, bad := range []string{"NOEQUALS\n", "=value\n", "TWO WORDS=x\n", "K=\"open\n", "K='open\n", "K=\"a\"b\n", "K=\"a\\\"\n"} {
		if _, err := ParseDotEnv(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ParseDotEnv(%q) error = %v, want one naming line 1", bad, err)
		}
	}
}

// TestParseDotEnvQuotes: a quoted value followed by a comment gives the value; # inside
// quotes is text; \" and \\ are escapes in double quotes only; an unquoted value ends at a
// blank and #, and keeps a # inside a word.
func TestParseDotEnvQuotes(t *testing.T) {
	tests := []struct{ line, want string }{
		{`K="none" # c`, "none"},
		{`K='none' # c`, "none"},
		{"K=\"none\"\t# tab before the comment", "none"},
		{`K="none"#c`, "none"},
		{`K="a # b" # c`, "a # b"},
		{`K='a # b'`, "a # b"},
		{`K="say \"hi\"" # c`, `say "hi"`},
		{`K="back\\slash"`, `back\slash`},
		{`K="C:\Users\me"`, `C:\Users\me`},
		{`K='no \"escape'`, `no \"escape`},
		{`K=""`, ""},
		{`K="" # empty`, ""},
		{`K=none # c`, "none"},
		{"K=none\t# c", "none"},
		{`K=http://h/p#frag`, "http://h/p#frag"},
		{`K=it's`, "it's"},
	}
	for _, tt := range tests {
		got, err := ParseDotEnv(strings.NewReader(tt.line + "\n"))
		if err != nil || got["K"] != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.line, got["K"], err, tt.want)
		}
	}
}

// TestLoadDotEnvUnreadable: an env file that cannot be read is an error naming the file,
// where its name came from (--env-file or the variable) and what to do; a missing ./.env is
// no error.
func TestLoadDotEnvUnreadable(t *testing.T) {
	t.Chdir(t.TempDir())
	missing := filepath.Join(t.TempDir(), "nonexist.env")
	err := LoadDotEnv([]string{"fastmcp-auth", "tools", "--env-file", missing}, "env-file", "FASTMCP_AUTH_ENV_FILE")
	want := "could not read env file " + missing + " given by --env-file: no such file or directory: check the path, or leave --env-file out to read ./.env"
	if err == nil || err.Error() != want {
		t.Errorf("--env-file missing: error %v, want %q", err, want)
	}
	t.Setenv("FASTMCP_AUTH_ENV_FILE", missing)
	err = LoadDotEnv([]string{"fastmcp-auth", "tools"}, "env-file", "FASTMCP_AUTH_ENV_FILE")
	if err == nil || !strings.Contains(err.Error(), "given by FASTMCP_AUTH_ENV_FILE: no such file or directory: check the path") {
		t.Errorf("FASTMCP_AUTH_ENV_FILE missing: error %v, want one naming the variable", err)
	}
	t.Setenv("FASTMCP_AUTH_ENV_FILE", "")
	if err := LoadDotEnv([]string{"fastmcp-auth", "tools"}, "env-file", "FASTMCP_AUTH_ENV_FILE"); err != nil {
		t.Errorf("no ./.env: %v, want no error", err)
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

// TestLoadDotEnvEmptyVariable: a variable set to "" counts as unset. It takes the .env value;
// one of ours that .env does not set is removed, so that the flag library uses the default;
// another program's empty variable is left alone; a non-empty variable still beats .env.
func TestLoadDotEnvEmptyVariable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "test.env")
	if err := os.WriteFile(file, []byte("FASTMCP_AUTH_SERVER=http://from-dotenv/mcp\nFASTMCP_AUTH_SCOPE=dotenv-scope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FASTMCP_AUTH_SERVER", "")
	t.Setenv("FASTMCP_AUTH_CLIENT_ID", "")
	t.Setenv("FASTMCP_AUTH_SCOPE", "from-env")
	t.Setenv("NOT_OURS_EMPTY", "")
	if err := LoadDotEnv([]string{"fastmcp-auth", "tools", "--env-file", file}, "env-file", "FASTMCP_AUTH_ENV_FILE"); err != nil {
		t.Fatal(err)
	}
	if got := os.Getenv("FASTMCP_AUTH_SERVER"); got != "http://from-dotenv/mcp" {
		t.Errorf("FASTMCP_AUTH_SERVER = %q, want the .env value", got)
	}
	if v, set := os.LookupEnv("FASTMCP_AUTH_CLIENT_ID"); set {
		t.Errorf("FASTMCP_AUTH_CLIENT_ID is still set (to %q), want it unset", v)
	}
	if got := os.Getenv("FASTMCP_AUTH_SCOPE"); got != "from-env" {
		t.Errorf("FASTMCP_AUTH_SCOPE = %q, want the environment's value", got)
	}
	if _, set := os.LookupEnv("NOT_OURS_EMPTY"); !set {
		t.Error("NOT_OURS_EMPTY was removed: only our own variables may be")
	}
}
