package commands

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out, errb bytes.Buffer
			code := Run(ctx, append(append([]string{"fastmcp-auth"}, args...), "extra", "--help"), &out, &errb)
			if code != ExitUsage {
				t.Errorf("exit %d, want %d (stderr %q)", code, ExitUsage, errb.String())
			}
			want := "error: " + name + ` takes no arguments, got "extra"`
			if line := errb.String(); !strings.HasPrefix(line, want) || strings.Count(line, "\n") != 1 {
				t.Errorf("stderr %q, want one line starting %q", line, want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}
