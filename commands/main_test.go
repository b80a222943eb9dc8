package commands

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// runMain runs `fastmcp-auth args...` as main does (Run, which prints the "error: ..." line)
// and returns the exit code and both outputs. Run reads os.Stdin: commands that read stdin
// are run through NewApp with a Reader instead.
func runMain(ctx context.Context, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Run(ctx, append([]string{"fastmcp-auth"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// runAction runs cmd with args in an app that discards its output, for tests whose cmd.Action
// reads the flags into settings; a parse error of the flags themselves fails t.
func runAction(t *testing.T, cmd *cli.Command, args ...string) {
	t.Helper()
	app := &cli.App{Name: "fastmcp-auth", Commands: []*cli.Command{cmd}, Writer: io.Discard, ErrWriter: io.Discard}
	if err := app.Run(append([]string{"fastmcp-auth", cmd.Name}, args...)); err != nil {
		t.Fatalf("flags: %v", err)
	}
}

// parseFlags runs cmd with args (through runAction) with an Action that only resolves its flags
// with resolve, and returns what resolve returned: the flag resolution of a command, tested
// without running it.
func parseFlags[T any](t *testing.T, cmd *cli.Command, resolve func(*cli.Context) (T, error), args ...string) (T, error) {
	t.Helper()
	var got T
	var err error
	cmd.Action = func(c *cli.Context) error {
		got, err = resolve(c)
		return nil
	}
	runAction(t, cmd, args...)
	return got, err
}

// wantUsageError checks err against a table case's wantErr: with wantErr set, err must be a
// usage error (exit 2) containing it; without, err must be nil. It reports whether the case
// wanted an error, so that the caller stops checking there.
func wantUsageError(t *testing.T, err error, wantErr string) bool {
	t.Helper()
	if wantErr == "" {
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	if err == nil || !strings.Contains(err.Error(), wantErr) || ExitCode(err) != ExitUsage {
		t.Fatalf("error %v (exit %d), want a usage error containing %q", err, ExitCode(err), wantErr)
	}
	return true
}
