package commands

import (
	"context"
	"flag"
	"net/http/httptest"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
	"github.com/fastmcp-auth/fastmcp-auth/mcpserver"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestToolsGolden pins what `tools` and `tools --json` print for the real server's tools, so
// that a change to a tool's name, description or schema shows up in review
// (go test ./commands -run TestToolsGolden -update rewrites the files).
func TestToolsGolden(t *testing.T) {
	h, err := mcpserver.Handler(mcpserver.Config{NoAuth: true, PublicURL: "http://127.0.0.1/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		file string
		args []string
	}{
		{"tools.golden", nil},
		{"tools.json.golden", []string{"--json"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			args := append([]string{"tools", "--no-auth", "--server", srv.URL + "/mcp"}, tc.args...)
			code, stdout, stderr := runMain(context.Background(), args...)
			if code != ExitOK || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			testenv.Golden(t, tc.file, stdout, *updateGolden)
		})
	}
}
