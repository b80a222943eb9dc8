package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Missing ends a test that needs a tool which is not installed. Under CI (env CI set)
// scripts/test.sh installs every tool, so a missing one fails the test: a skip there would
// report success for a test that never ran. Elsewhere the test is skipped. msg says what to
// install.
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// LookPath returns the first of names found on PATH (a name with a slash is checked as a
// path), and calls Missing with msg when none is found.
func LookPath(t testing.TB, msg string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Missing(t, msg)
	return ""
}
