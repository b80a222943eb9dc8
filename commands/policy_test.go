package commands

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestPolicyTest runs serially: NewApp shares the commands registered with register.
func TestPolicyTest(t *testing.T) { //nolint:paralleltest
	dir := t.TempDir()
	write := func(name, body string) string { return testenv.WriteFile(t, dir, name, body) }
	pol := write("p.yaml", "rules:\n  - tools: [\"get-env\", \"admin_*\"]\n    allow: \"'Admin' in claims.roles\"\n  - tools: [\"echo\"]\n    allow: \"args.message != 'no'\"\n  - tools: [\"*\"]\n    allow: \"'execute' in claims.scp\"\n")
	bad := write("bad.yaml", "rules:\n  - tools: [x]\n    allow: \"claims.roles +\"\n")
	user := write("user.json", `{"oid":"u","scp":"execute"}`)
	admin := write("admin.json", `{"oid":"a","scp":"read","roles":["Admin"]}`)
	notJSON := write("nope.json", `not json`)
	typo := write("typo.yaml", "rules:\n  - tool: [\"*\"]\n    allow: \"true\"\n")
	null := write("null.json", "null\n")
	empty := write("empty.json", "")
	blank := write("blank.json", " \n")
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  string
		stderrs string
	}{
		{"allow by catch-all", []string{"--policy", pol, "--claims", user, "--tool", "anything"}, 0, `allow rule 2 (tools: "*")`, ""},
		{"deny admin tool", []string{"--policy", pol, "--claims", user, "--tool", "admin_x"}, 1, `deny rule 0 (tools: "get-env", "admin_*")`, "denies"},
		{"allow admin", []string{"--policy", pol, "--claims", admin, "--tool", "get-env"}, 0, "allow rule 0", ""},
		{"args decide", []string{"--policy", pol, "--claims", user, "--tool", "echo", "--args", `{"message":"no"}`}, 1, "deny rule 1", ""},
		{"args allow", []string{"--policy", pol, "--claims", user, "--tool", "echo", "--args", `{"message":"yes"}`}, 0, "allow rule 1", ""},
		{"no scope", []string{"--policy", pol, "--claims", admin, "--tool", "other"}, 1, "deny rule 2", ""},
		{"bad policy names the rule", []string{"--policy", bad, "--claims", user, "--tool", "x"}, 2, "", "rule 0 (tools: \"x\")"},
		{"bad claims", []string{"--policy", pol, "--claims", notJSON, "--tool", "x"}, 2, "", "--claims"},
		{"yaml detail kept on the one line", []string{"--policy", typo, "--claims", user, "--tool", "x"}, 2, "", "yaml: unmarshal errors: line 2: field tool not found"},
		{"claims null", []string{"--policy", pol, "--claims", null, "--tool", "x"}, 2, "", "error: --claims " + null + ": claims are not a JSON object: null: give a JSON object of token claims"},
		{"claims file empty", []string{"--policy", pol, "--claims", empty, "--tool", "x"}, 2, "", "error: --claims " + empty + " is empty: give a JSON object of token claims, e.g. from fastmcp-auth whoami --json"},
		{"claims file blank", []string{"--policy", pol, "--claims", blank, "--tool", "x"}, 2, "", "--claims " + blank + " is empty"},
		{"bad args", []string{"--policy", pol, "--claims", user, "--tool", "x", "--args", "[]"}, 2, "", "--args"},
		{"no tool", []string{"--policy", pol, "--claims", user}, 2, "", "--tool is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errb := runMain(context.Background(), append([]string{"policy", "test"}, tt.args...)...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errb, tt.stderrs) || strings.Count(errb, "\n") > 1 {
				t.Errorf("exit %d stdout %q stderr %q; want exit %d, stdout ~%q, one stderr line ~%q", code, out, errb, tt.code, tt.stdout, tt.stderrs)
			}
		})
	}
}

// TestPolicyTestClaimsFromStdin: --claims - reads the claims from stdin; empty stdin is bad
// input (exit 2), not an empty claim set that a rule then denies.
func TestPolicyTestClaimsFromStdin(t *testing.T) { //nolint:paralleltest // see TestPolicyTest
	pol := testenv.WriteFile(t, t.TempDir(), "p.yaml", "rules:\n  - tools: [\"*\"]\n    allow: \"'execute' in claims.scp\"\n")
	for _, tt := range []struct {
		name, stdin string
		code        int
		stdout      string
		stderr      string
	}{
		{"claims", `{"scp":"execute"}`, ExitOK, `allow rule 0 (tools: "*")`, ""},
		{"empty", "", ExitUsage, "", "error: --claims - (stdin) is empty: give a JSON object of token claims, e.g. from fastmcp-auth whoami --json\n"},
		{"null", "null", ExitUsage, "", "error: --claims - (stdin): claims are not a JSON object: null: give a JSON object of token claims, e.g. from fastmcp-auth whoami --json\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			app := NewApp(&out, &errb)
			app.Reader = strings.NewReader(tt.stdin)
			err := app.RunContext(context.Background(), []string{"fastmcp-auth", "policy", "test", "--policy", pol, "--claims", "-", "--tool", "x"})
			if err != nil {
				errb.WriteString("error: " + oneLine(err.Error()) + "\n")
			}
			if code := ExitCode(err); code != tt.code || !strings.Contains(out.String(), tt.stdout) || (tt.stderr != "" && errb.String() != tt.stderr) {
				t.Errorf("exit %d stdout %q stderr %q; want exit %d, stdout ~%q, stderr %q", code, out.String(), errb.String(), tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}
