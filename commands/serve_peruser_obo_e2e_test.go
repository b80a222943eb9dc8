package commands

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestServePerUserOnBehalfOfEndToEnd: login → call get-env through `serve --per-user
// --obo-scope … --obo-token-env DOWNSTREAM_TOKEN -- node server-everything stdio`: the child sees
// in DOWNSTREAM_TOKEN an On-Behalf-Of token of the development authority (aud downstream, the
// user's oid, the gateway as azp), and the gateway's log never holds it.
func TestServePerUserOnBehalfOfEndToEnd(t *testing.T) { //nolint:paralleltest
	const apiSecret = "api-s3cret-e2e"
	everything, _ := filepath.Abs("../interop/gateway/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
	testenv.NeedNode(t, "node and server-everything are needed: run `cd interop/gateway && npm ci`", everything)
	da := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true, ClientSecret: apiSecret, DownstreamAPIs: []string{"downstream"}})
	authority := []string{"--authority", da.URL(), "--ca-file", da.CAFile()}
	secretFile := testenv.WriteFile(t, t.TempDir(), "api-secret", apiSecret)
	gw := startServe(t, append(authority, "--api-client-id", devauthority.DefaultAPIClientID, "--per-user",
		"--obo-scope", "api://downstream/execute", "--api-client-secret-file", secretFile, "--obo-token-env", "DOWNSTREAM_TOKEN",
		"--", "node", everything, "stdio")...)
	ctx := cliCtx(t)
	client, _, user := oboUser(t, ctx, authority)
	out, errOut, code := runCLI(ctx, "call", append([]string{"get-env", "--server", gw.base + "/mcp", "--progress", "none"}, client...)...)
	if code != 0 {
		t.Fatalf("call: %d %s %s\n%s", code, out, errOut, gw.stderr.String())
	}
	var env map[string]string
	txt := out
	if i := strings.Index(txt, "{"); i >= 0 {
		txt = txt[i:]
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(txt)), &env); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	tok := env["DOWNSTREAM_TOKEN"]
	id, err := auth.UnverifiedIdentity(tok)
	if err != nil || id.Audience[0] != "downstream" || id.ObjectID != user.ObjectID || id.ClientID != devauthority.DefaultAPIClientID {
		t.Fatalf("token in env: %v %+v", err, id)
	}
	if strings.Contains(gw.stderr.String(), tok) {
		t.Error("token in log")
	}

}
