package commands

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestFlagValueErrors: a flag or environment value that does not parse is exit 2 with one line
// naming the flag (with two dashes, or the variable and its flag), the value, and what to give,
// for every flag type the commands use. Not parallel: it sets environment variables.
func TestFlagValueErrors(t *testing.T) {
	unsetForTest(t, "FASTMCP_AUTH_ENV_FILE")
	t.Chdir(t.TempDir()) // no .env
	serve := func(args ...string) []string {
		return append([]string{"serve", "--no-auth", "--addr", "127.0.0.1:0"}, args...)
	}
	checkFailures(t, 10*time.Second, []failureCase{
		{"duration", serve("--clock-skew", "banana"), ExitUsage, `--clock-skew: "banana" is not a duration: give one such as 60s or 5m`},
		{"bool", serve("--debug=banana"), ExitUsage, `--debug: "banana" is not true or false: use true or false`},
		{"int", serve("--max-sessions", "abc", "--", "sh"), ExitUsage, `--max-sessions: "abc" is not a whole number: give one such as 100`},
		{"int out of range", serve("--max-sessions", "99999999999999999999", "--", "sh"), ExitUsage, `--max-sessions: "99999999999999999999" is out of range: give a whole number such as 100`},
		{"value missing", serve("--clock-skew"), ExitUsage, `--clock-skew needs a value: give one such as 60s or 5m`},
		{"string value missing", []string{"policy", "test", "--tool"}, ExitUsage, `--tool needs a value (see fastmcp-auth policy test --help)`},
		{"unknown flag", serve("--no-such-flag"), ExitUsage, `flag provided but not defined: --no-such-flag (see fastmcp-auth serve --help)`},
		{"negative duration", serve("--clock-skew", "-5s"), ExitUsage, `--clock-skew must not be negative (-5s): give a duration such as 60s, or 0s for none`},
		{"negative interval", serve("--progress-interval", "-1s"), ExitUsage, `--progress-interval must not be negative (-1s): give a duration such as 1s, or 0s for no pause`},
	})
	for _, tc := range []struct {
		name, env, value, msg string
	}{
		{"duration from the environment", "FASTMCP_AUTH_CLOCK_SKEW", "banana", `FASTMCP_AUTH_CLOCK_SKEW (for --clock-skew): "banana" is not a duration: give one such as 60s or 5m`},
		{"bool from the environment", "FASTMCP_AUTH_DEBUG", "banana", `FASTMCP_AUTH_DEBUG (for --debug): "banana" is not true or false: use true or false`},
		{"int from the environment", "FASTMCP_AUTH_MAX_SESSIONS", "abc", `FASTMCP_AUTH_MAX_SESSIONS (for --max-sessions): "abc" is not a whole number: give one such as 100`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			checkFailures(t, 10*time.Second, []failureCase{{tc.name, serve(), ExitUsage, tc.msg}})
		})
	}
}

// TestFileFlagErrors: a file flag whose file cannot be read (or created) is exit 2 naming the
// flag and the path, before the authority (unreachable here: exit 4) is contacted.
func TestFileFlagErrors(t *testing.T) { //nolint:paralleltest // runs the command line, as the other serve tests
	t.Setenv(envAPIClientSecret, "")
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	pol := testenv.WriteFile(t, dir, "p.yaml", "rules:\n  - tools: [\"*\"]\n    allow: \"true\"\n")
	signedIn := []string{"serve", "--authority", "https://127.0.0.1:1/tenant", "--api-client-id", "api", "--addr", "127.0.0.1:0", "--upstream", "http://127.0.0.1:1/mcp"}
	with := func(args ...string) []string { return append(append([]string{}, signedIn...), args...) }
	checkFailures(t, 20*time.Second, []failureCase{
		{"serve --policy", with("--policy", missing), ExitUsage, "could not read --policy " + missing + ": no such file or directory: give the path of a YAML policy file"},
		{"policy test --policy", []string{"policy", "test", "--policy", missing, "--claims", missing, "--tool", "x"}, ExitUsage, "could not read --policy " + missing + ": no such file or directory"},
		{"policy test --claims", []string{"policy", "test", "--policy", pol, "--claims", missing, "--tool", "x"}, ExitUsage, "could not read --claims " + missing + ": no such file or directory: give a JSON file of token claims"},
		{"--audit-log", with("--audit-log", filepath.Join(missing, "audit.log")), ExitUsage, "could not open --audit-log " + filepath.Join(missing, "audit.log") + ": no such file or directory: give a file in an existing directory"},
		{"--api-client-secret-file", with("--obo-scope", "api://d/read", "--api-client-secret-file", missing), ExitUsage, "could not read --api-client-secret-file " + missing + ": no such file or directory: give the file holding the API's client secret"},
	})
}
