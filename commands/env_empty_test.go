package commands

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/mcpclient/mcpclienttest"
)

// TestEmptyEnvironmentVariable: through Run, FASTMCP_AUTH_SERVER= does not hide the .env
// value, and FASTMCP_AUTH_PROGRESS= does not hide the built-in default (auto): the command
// runs as if neither were set.
func TestEmptyEnvironmentVariable(t *testing.T) {
	srv := mcpclienttest.NewServer(t, mcpclienttest.Options{})
	file := filepath.Join(t.TempDir(), "test.env")
	if err := os.WriteFile(file, []byte("FASTMCP_AUTH_SERVER="+srv.URL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FASTMCP_AUTH_SERVER", "")
	t.Setenv("FASTMCP_AUTH_PROGRESS", "")
	code, stdout, stderr := runMain(context.Background(), "call", "reverse_tool", "query=ab", "--env-file", file, "--no-auth")
	if code != 0 || stdout != "{\n  \"reversed_query\": \"ba\"\n}\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want the call to reach the .env server", code, stdout, stderr)
	}
}
