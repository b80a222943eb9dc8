package commands

import (
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
		{"bad args", []string{"--policy", pol, "--claims", user, "--tool", "x", "--args", "[]"}, 2, "", "--args"},
		{"no tool", []string{"--policy", pol, "--claims", user}, 2, "", "--tool is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errb := runMain(context.Background(), append([]string{"policy", "test"}, tt.args...)...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errb, tt.stderrs) {
				t.Errorf("exit %d stdout %q stderr %q; want exit %d, stdout ~%q, stderr ~%q", code, out, errb, tt.code, tt.stdout, tt.stderrs)
			}
		})
	}
}
