package commands

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
)

// fakeResource is an MCP server that only answers what sign-in discovery reads: a 401 with a
// resource_metadata challenge (when challenge is set) and its protected resource metadata at
// the RFC 9728 well-known path. It counts the requests it gets.
type fakeResource struct {
	srv      *httptest.Server
	requests atomic.Int32
}

func newFakeResource(t *testing.T, challenge bool, meta func(serverURL string) map[string]any) *fakeResource {
	t.Helper()
	f := &fakeResource{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		base := "http://" + r.Host
		switch r.URL.Path {
		case "/mcp":
			if challenge {
				w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+base+`/custom-metadata", scope="execute"`)
			}
			w.WriteHeader(http.StatusUnauthorized)
		case "/custom-metadata", "/.well-known/oauth-protected-resource/mcp":
			if meta == nil || (!challenge && r.URL.Path == "/custom-metadata") {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(meta(base + "/mcp"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeResource) url() string { return f.srv.URL + "/mcp" }

// newDiscoverableServer is a development authority and a fakeResource whose metadata names it
// (scope <app-id-uri>/execute), with the user config directory (servers.json) in a temporary
// directory: the setting of a `login --server` test.
func newDiscoverableServer(t *testing.T, challenge bool) (*devauthority.Authority, *fakeResource) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	da := newLoginEnv(t, time.Hour, true).da
	scope := "api://" + devauthority.DefaultAPIClientID + "/execute"
	res := newFakeResource(t, challenge, func(server string) map[string]any {
		return map[string]any{"resource": server, "authorization_servers": []string{da.URL() + "/v2.0"}, "scopes_supported": []string{scope}}
	})
	return da, res
}

// TestLoginServerDiscovery: login --server takes the authority and scopes from the server's
// metadata (the challenge's resource_metadata, else the well-known path), records them with
// the client ID in servers.json (0600), and token with the same --server then needs no
// authority, client ID or scope.
func TestLoginServerDiscovery(t *testing.T) {
	for _, challenge := range []bool{true, false} {
		name := "well-known"
		if challenge {
			name = "challenge"
		}
		t.Run(name, func(t *testing.T) {
			da, res := newDiscoverableServer(t, challenge)
			cacheFile := filepath.Join(t.TempDir(), "cache.json")
			ctx := cliCtx(t)
			out, errOut, code := runCLI(ctx, "login", "--server", res.url(), "--client-id", "disco-client", "--ca-file", da.CAFile(), "--cache-file", cacheFile)
			if code != 0 || out != "" || !strings.Contains(errOut, "signed in as") {
				t.Fatalf("login --server: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			path := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "fastmcp-auth", "servers.json")
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("servers.json: %v %v, want mode 0600", fi, err)
			}
			var rec map[string]map[string]any
			b, _ := os.ReadFile(path)
			if err := json.Unmarshal(b, &rec); err != nil {
				t.Fatal(err)
			}
			got := rec[res.url()]
			if got["authority"] != da.URL() || got["client_id"] != "disco-client" {
				t.Errorf("servers.json record %v: want authority %s and client ID disco-client", got, da.URL())
			}
			out, errOut, code = runCLI(ctx, "token", "--server", res.url(), "--ca-file", da.CAFile(), "--cache-file", cacheFile)
			if code != 0 || strings.Count(strings.TrimSpace(out), ".") != 2 {
				t.Fatalf("token --server: exit %d, stderr %q", code, errOut)
			}
		})
	}
}

// TestLoginServerRefusals: metadata that does not name this server, an authorization server
// that is not https, or no metadata at all is refused with exit 3 and a message naming the
// mismatch; an unreachable server is exit 4; an explicit authority wins without any request
// to the server.
func TestLoginServerRefusals(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	env := newLoginEnv(t, time.Hour, true)
	da := env.da
	scope := []string{"api://" + devauthority.DefaultAPIClientID + "/execute"}
	for _, tc := range []struct {
		name     string
		meta     func(server string) map[string]any
		wantCode int
		wantIn   string
	}{
		{"resource of another server", func(string) map[string]any {
			return map[string]any{"resource": "https://other.example/mcp", "authorization_servers": []string{da.URL() + "/v2.0"}, "scopes_supported": scope}
		}, ExitAuth, `names the resource "https://other.example/mcp"`},
		{"plain http authorization server", func(server string) map[string]any {
			return map[string]any{"resource": server, "authorization_servers": []string{"http://127.0.0.1:1/dev/v2.0"}, "scopes_supported": scope}
		}, ExitAuth, "is not https"},
		{"no authorization server", func(server string) map[string]any {
			return map[string]any{"resource": server}
		}, ExitAuth, "no authorization_servers"},
		{"no metadata", nil, ExitAuth, "serves no protected resource metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := newFakeResource(t, true, tc.meta)
			_, errOut, code := runCLI(cliCtx(t), "login", "--server", res.url(), "--client-id", "c", "--ca-file", da.CAFile(), "--cache-file", env.cacheFile)
			if code != tc.wantCode || !strings.Contains(errOut, tc.wantIn) {
				t.Errorf("exit %d, stderr %q; want exit %d naming %q", code, errOut, tc.wantCode, tc.wantIn)
			}
		})
	}
	t.Run("unreachable server", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		gone := srv.URL + "/mcp"
		srv.Close()
		_, errOut, code := runCLI(cliCtx(t), "login", "--server", gone, "--client-id", "c", "--cache-file", env.cacheFile)
		if code != ExitUnreachable {
			t.Errorf("exit %d, stderr %q; want 4", code, errOut)
		}
	})
	t.Run("explicit authority wins", func(t *testing.T) {
		res := newFakeResource(t, true, func(string) map[string]any {
			return map[string]any{"resource": "https://other.example/mcp", "authorization_servers": []string{"http://evil.example/x"}}
		})
		_, errOut, code := runCLI(cliCtx(t), "login", append(env.args, "--server", res.url())...)
		if code != 0 || res.requests.Load() != 0 {
			t.Errorf("exit %d, %d requests to the server, stderr %q; want 0 and none", code, res.requests.Load(), errOut)
		}
	})
}
