package commands

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestCommandsWithoutArgumentsRejectThem: a positional argument stops flag parsing, so
// `whoami extra --json` would drop --json and `dev-authority extra --help` would start the
// authority. Each command that takes no argument must answer exit 2 at once instead.
func TestCommandsWithoutArgumentsRejectThem(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	unsetForTest(t, "FASTMCP_AUTH_ENV_FILE")
	for _, args := range [][]string{
		{"token"}, {"whoami"}, {"login"}, {"logout"}, {"serve"}, {"demo"},
		// Without the check it would run (bounded here by the context) instead of failing.
		{"dev-authority", "--addr", "127.0.0.1:0", "--state-dir", filepath.Join(dir, "state")},
	} {
		name := args[0]
		t.Run(name, func(t *testing.T) {
			code, out, line := runMain(testenv.Context(t, 10*time.Second), append(args, "extra", "--help")...)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d (stderr %q)", code, ExitUsage, line)
			}
			want := "error: " + name + ` takes no arguments, got "extra"`
			if !strings.HasPrefix(line, want) || strings.Count(line, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", line, want)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
}
