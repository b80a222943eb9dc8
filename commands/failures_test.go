package commands

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// failureCase is a command line that must fail: with exit code, and an error naming msg.
type failureCase struct {
	name string
	args []string // after "fastmcp-auth"
	code int
	msg  string
}

// checkFailures runs each case through Run, as main does, in a subtest, and checks what
// CLI.md promises of a failure: the exit code, a last stderr line "error: ..." containing
// msg (log lines may come before it), and nothing on stdout. Each run gets timeout.
func checkFailures(t *testing.T, timeout time.Duration, cases []failureCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(testenv.Context(t, timeout), append([]string{"fastmcp-auth"}, tc.args...), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.code, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "error: ") || !strings.Contains(last, tc.msg) {
				t.Errorf("last stderr line %q, want error: ...%s...", last, tc.msg)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}
