package commands

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// unsetForTest clears variables for the test and restores them afterwards, including those
// Run sets from a .env file.
func unsetForTest(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		t.Setenv(n, "")
		os.Unsetenv(n)
	}
}

// TestSettingPrecedence checks flag > environment > .env > default on a setting whose value
// is visible without a network: logout names the cache file it looked at.
func TestSettingPrecedence(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	unsetForTest(t, "FASTMCP_AUTH_CACHE_FILE", "FASTMCP_AUTH_TENANT_ID", "FASTMCP_AUTH_CLIENT_ID", "FASTMCP_AUTH_ENV_FILE", "FASTMCP_AUTH_AUTHORITY")
	fromDotEnv := filepath.Join(dir, "dotenv.json")
	fromEnv := filepath.Join(dir, "env.json")
	fromFlag := filepath.Join(dir, "flag.json")
	fromOther := filepath.Join(dir, "other.json")
	testenv.WriteFile(t, dir, ".env", "FASTMCP_AUTH_TENANT_ID=t\nFASTMCP_AUTH_CLIENT_ID=c\nFASTMCP_AUTH_CACHE_FILE="+fromDotEnv+"\n")
	testenv.WriteFile(t, dir, "other.env", "FASTMCP_AUTH_TENANT_ID=t\nFASTMCP_AUTH_CLIENT_ID=c\nFASTMCP_AUTH_CACHE_FILE="+fromOther+"\n")
	logout := func(t *testing.T, args ...string) string {
		t.Helper()
		code, out, errb := runMain(context.Background(), append([]string{"logout"}, args...)...)
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errb)
		}
		return out + errb
	}
	for _, tc := range []struct {
		name string
		env  string // FASTMCP_AUTH_CACHE_FILE in the environment
		args []string
		want string
	}{
		{name: ".env applies", want: fromDotEnv},
		{name: "environment beats .env", env: fromEnv, want: fromEnv},
		{name: "flag beats environment", env: fromEnv, args: []string{"--cache-file", fromFlag}, want: fromFlag},
		{name: "--env-file replaces .env", args: []string{"--env-file", "other.env"}, want: fromOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			unsetForTest(t, "FASTMCP_AUTH_CACHE_FILE", "FASTMCP_AUTH_TENANT_ID", "FASTMCP_AUTH_CLIENT_ID")
			if tc.env != "" {
				t.Setenv("FASTMCP_AUTH_CACHE_FILE", tc.env)
			}
			if got := logout(t, tc.args...); !strings.Contains(got, tc.want) {
				t.Errorf("logout said %q, want it to name %s", got, tc.want)
			}
		})
	}
}

func TestRunUsageErrors(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	unsetForTest(t, "FASTMCP_AUTH_ENV_FILE")
	testenv.WriteFile(t, dir, "broken.env", "this is not an env file\n")
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"unknown command", []string{"nosuch"}, ExitUsage, `unknown command "nosuch"`},
		{"unknown flag", []string{"serve", "--bogus"}, ExitUsage, "bogus"},
		{"missing env file", []string{"--env-file", "missing.env", "logout"}, ExitUsage, "could not read env file"},
		{"broken env file", []string{"logout", "--env-file=broken.env"}, ExitUsage, "broken.env: line 1"},
		{"bad log format", []string{"serve", "--no-auth", "--log-format", "xml"}, ExitUsage, "--log-format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, line := runMain(context.Background(), tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, line)
			}
			if !strings.HasPrefix(line, "error: ") || !strings.Contains(line, tc.contains) {
				t.Errorf("stderr %q: want an error: line containing %q", line, tc.contains)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"--help"}, {"serve", "--help"}, {"call", "--help"}} {
		code, out, errb := runMain(context.Background(), args...)
		if code != ExitOK {
			t.Errorf("%v: exit %d (%s)", args, code, errb)
		}
		if out == "" {
			t.Errorf("%v printed nothing on stdout", args)
		}
	}
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"policy p.yaml: yaml: unmarshal errors:\n  line 2: field tool not found\n  line 3: field alow not found: fix the rule",
			"policy p.yaml: yaml: unmarshal errors: line 2: field tool not found; line 3: field alow not found: fix the rule"},
		{"first\r\n\r\nsecond\n", "first; second"},
	} {
		if got := oneLine(tc.in); got != tc.want {
			t.Errorf("oneLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
