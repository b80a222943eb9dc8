package testenv

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Golden compares got with the golden file testdata/name of the test's package. With update
// (the package's own -update flag: a flag defined here would clash with theirs) it first
// rewrites the file with got, so that an intended change is accepted by running the test once
// with -update and reviewing the diff of the file.
func Golden(t testing.TB, name, got string, update bool) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if update {
		if err := os.MkdirAll("testdata", 0o755); err != nil { //nolint:gosec // G301: a directory in the repository
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil { //nolint:gosec // G306: a golden file in the repository
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s changed (-want +got); if intended, run the test with -update:\n%s", path, diff)
	}
}

// WriteFile writes content to dir/name, readable by the owner only (0600: test files stand in
// for secrets, policies and caches), and returns the path; a failure fails t.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
