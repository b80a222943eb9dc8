package interop

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// mcpRemote is the pinned mcp-remote's client.
const mcpRemote = "node_modules/mcp-remote/dist/client.js"

// requireMCPRemote skips (or fails under CI) when node or the pinned mcp-remote is missing.
func requireMCPRemote(t *testing.T) {
	t.Helper()
	requireNode(t)
	testenv.NeedNode(t, "mcp-remote 0.15.1 is needed: run `cd interop && npm ci`", mcpRemote)
}

// runMCPRemote runs mcp-remote-client 0.15.1 against the fixture's server the way the README's
// recipe does: the pre-registered public client fastmcp-dev-cli as static client information,
// the device grant (no browser), the development authority's CA through NODE_EXTRA_CA_CERTS,
// and extra arguments. It returns everything mcp-remote logged and its error.
func runMCPRemote(t *testing.T, f *fixture, extra ...string) (string, error) {
	t.Helper()
	args := append([]string{mcpRemote, f.serverURL, "--static-oauth-client-info", `{"client_id":"` + devauthority.DevClientID + `"}`, "--device-code"}, extra...)
	cmd := testenv.Node(testenv.Context(t, 90*time.Second), []string{"NODE_EXTRA_CA_CERTS=" + f.authority.CAFile(), "MCP_REMOTE_CONFIG_DIR=" + t.TempDir()}, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// mcp-remote-client shuts down when its stdin ends: keep it open until the process exits
	// on its own ("Exiting OK" after listing).
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	return out.String(), err
}

// TestMCPRemoteSignsInAndListsTools: the new user's command of issue 9 (mcp-remote with a
// static client ID) signs in at the development authority, which refuses what Entra refuses,
// and lists the tools, once the resource parameter names the API's identifier URI
// (--resource api://<api-client-id>, the README's recipe) or is left out
// (--disable-resource-parameter). Without either, mcp-remote sends the server URL as resource
// and the authority answers AADSTS9010010, as Entra would.
func TestMCPRemoteSignsInAndListsTools(t *testing.T) {
	requireMCPRemote(t)
	f := startFixture(t)
	for _, tc := range []struct {
		name  string
		extra []string
		ok    bool
	}{
		{"resource is the identifier URI", []string{"--resource", "api://" + devauthority.DefaultAPIClientID}, true},
		{"resource parameter disabled", []string{"--disable-resource-parameter"}, true},
		{"server URL as resource", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runMCPRemote(t, f, tc.extra...)
			listed := strings.Contains(out, `"reverse_tool"`) && strings.Contains(out, `"random_number_tool"`)
			if tc.ok && (err != nil || !listed) {
				t.Fatalf("mcp-remote did not list the tools (err %v):\n%s", err, out)
			}
			if !tc.ok && (listed || !strings.Contains(out, "AADSTS9010010")) {
				t.Fatalf("want AADSTS9010010 and no tools (err %v):\n%s", err, out)
			}
		})
	}
}

// TestMCPRemoteWithURLAsIdentifierURI: when the API's identifier URI is the server's URL (the
// set-up of "Connect VS Code directly"), mcp-remote needs no resource option: the TypeScript
// SDK inside it picks scopes (<url>/execute), authority and resource (the URL) from the
// metadata, and the authority accepts them.
func TestMCPRemoteWithURLAsIdentifierURI(t *testing.T) {
	requireMCPRemote(t)
	f := startFixtureWith(t, true)
	out, err := runMCPRemote(t, f)
	if err != nil || !strings.Contains(out, `"reverse_tool"`) {
		t.Fatalf("mcp-remote did not list the tools (err %v):\n%s", err, out)
	}
}
