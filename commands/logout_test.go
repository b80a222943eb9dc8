package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
)

// TestLogoutServer: after `login --server`, `logout --server` alone (no authority, no client
// ID) signs out of the recorded authority and client, removes the servers.json record and
// says both; token --server then finds no sign-in (exit 3), and a second logout --server has
// nothing to remove (exit 0).
func TestLogoutServer(t *testing.T) {
	da, res := newDiscoverableServer(t, true)
	scope := "api://" + devauthority.DefaultAPIClientID + "/execute"
	cacheFile := filepath.Join(t.TempDir(), "cache.json")
	ctx := cliCtx(t)
	if _, errOut, code := runCLI(ctx, "login", "--server", res.url(), "--client-id", "disco-client", "--ca-file", da.CAFile(), "--cache-file", cacheFile); code != 0 {
		t.Fatalf("login --server: exit %d, stderr %q", code, errOut)
	}
	servers := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "fastmcp-auth", "servers.json")

	out, errOut, code := runCLI(ctx, "logout", "--server", res.url(), "--cache-file", cacheFile)
	if code != 0 || out != "" {
		t.Fatalf("logout --server: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, want := range []string{"signed out dev@", "removed the sign-in record of " + res.url() + " from " + servers} {
		if !strings.Contains(errOut, want) {
			t.Errorf("logout --server stderr %q lacks %q", errOut, want)
		}
	}
	if b, err := os.ReadFile(servers); err != nil || strings.Contains(string(b), res.url()) {
		t.Errorf("servers.json after logout: %q, %v: want no record of %s", b, err, res.url())
	}
	// The tokens are gone from the cache, not only the record: the explicit authority and
	// client find no sign-in either.
	if _, errOut, code := runCLI(ctx, "token", "--authority", da.URL(), "--client-id", "disco-client", "--scope", scope, "--ca-file", da.CAFile(), "--cache-file", cacheFile); code != ExitAuth {
		t.Errorf("token after logout --server: exit %d, stderr %q; want 3", code, errOut)
	}

	// token --server alone has neither a record nor settings: exit 3, pointing at login --server.
	if _, errOut, code := runCLI(ctx, "token", "--server", res.url(), "--cache-file", cacheFile); code != ExitAuth || !strings.Contains(errOut, "sign in with fastmcp-auth login --server "+res.url()) {
		t.Errorf("token --server after logout --server: exit %d, stderr %q; want 3 and the login --server to run", code, errOut)
	}

	_, errOut, code = runCLI(ctx, "logout", "--server", res.url(), "--cache-file", cacheFile)
	if code != 0 || !strings.Contains(errOut, "no sign-in is recorded for "+res.url()) {
		t.Errorf("second logout --server: exit %d, stderr %q; want 0 and nothing to remove", code, errOut)
	}
}
