package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// NeedNode returns the path of node when it is on PATH and each of files (what the test runs
// from its pinned npm packages, relative to the test's directory) exists; otherwise it calls
// Missing with msg, which says how to install them.
func NeedNode(t testing.TB, msg string, files ...string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	for _, f := range files {
		if err == nil {
			_, err = os.Stat(filepath.FromSlash(f))
		}
	}
	if err != nil {
		Missing(t, msg)
	}
	return node
}

// Node is `node args...` (the script first) with the test process's environment plus env,
// killed when ctx ends.
func Node(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// RunJSON runs cmd to its end and decodes what it printed on stdout into v; output that is not
// JSON fails t, showing it and cmd's stderr. It returns cmd's stderr and the error of the run
// (an exit status other than 0 among them), for the caller to judge.
func RunJSON(t testing.TB, cmd *exec.Cmd, v any) (stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		name := cmd.Args[len(cmd.Args)-1]
		if len(cmd.Args) > 1 {
			name = filepath.Base(cmd.Args[1]) // node's script
		}
		t.Fatalf("%s printed %q (%v; run: %v)\nstderr:\n%s", name, out.String(), err, runErr, errb.String())
	}
	return errb.String(), runErr
}
