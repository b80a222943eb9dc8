package commands

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/auth/authtest"
	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// vsCodeClientID is the client ID VS Code's Microsoft provider signs in as (the one an API
// registration pre-authorizes for VS Code to connect directly).
const vsCodeClientID = "aebc6443-996d-45c2-90f0-388ff96faa56"

// vsCodeMicrosoftGlobs are the authorizationServerGlobs of VS Code's Microsoft provider
// (microsoft/vscode extensions/microsoft-authentication/package.json).
var vsCodeMicrosoftGlobs = []string{"https://login.microsoftonline.com/*", "https://login.microsoftonline.com/*/v2.0"}

// bearerParams parses the parameters of a Bearer challenge (quoted values, no escapes in ours).
func bearerParams(h string) map[string]string {
	out := map[string]string{}
	h = strings.TrimPrefix(h, "Bearer ")
	for _, part := range strings.Split(h, `", `) {
		k, v, ok := strings.Cut(part, "=")
		if ok {
			out[strings.TrimSpace(k)] = strings.Trim(v, `"`)
		}
	}
	return out
}

// discoverAS finds the authorization server metadata as the TypeScript SDK and VS Code do
// for an issuer with a path: RFC 8414 path-inserted, OpenID path-inserted, then OpenID
// appended; it returns the document of the first that answers 200.
func discoverAS(t *testing.T, client *http.Client, issuer string) map[string]any {
	t.Helper()
	u, err := url.Parse(issuer)
	if err != nil {
		t.Fatal(err)
	}
	p := strings.TrimSuffix(u.Path, "/")
	for _, c := range []string{
		u.Scheme + "://" + u.Host + "/.well-known/oauth-authorization-server" + p,
		u.Scheme + "://" + u.Host + "/.well-known/openid-configuration" + p,
		strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration",
	} {
		resp, err := client.Get(c)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if resp.StatusCode == 200 && err == nil {
			return doc
		}
	}
	t.Fatalf("no authorization server metadata for %s", issuer)
	return nil
}

// TestHostsScopeAndAuthoritySelection drives serve's metadata and challenges the way VS Code
// (extHostMcp.ts createAuthMetadata: scopes from the challenge, else scopes_supported; the
// first authorization server; the metadata's resource) and the TypeScript SDK's OAuth client
// choose scopes, authority and resource, then runs their authorization code flow with PKCE and
// the RFC 8707 resource against the development authority, as VS Code's client ID: with the
// identifier URI set to the server's public URL (the README's "Connect VS Code directly"), the
// authority accepts every request, and the token opens the MCP endpoint.
func TestHostsScopeAndAuthoritySelection(t *testing.T) {
	addr := testenv.FreeAddr(t)
	public := "http://" + addr + "/mcp"
	da := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true, AppIDURI: public})
	srv := startServe(t, "--addr", addr, "--public-url", public, "--authority", da.URL(), "--ca-file", da.CAFile(),
		"--api-client-id", devauthority.DefaultAPIClientID, "--app-id-uri", public)
	client := da.HTTPClient()

	// 1. The first request has no token: the challenge names the metadata and the scopes.
	_, challenge, _ := post(t, srv.base+"/mcp", "", `{}`)
	params := bearerParams(challenge)
	if params["resource_metadata"] == "" || params["scope"] != public+"/execute" {
		t.Fatalf("challenge %q: want resource_metadata and scope %s/execute", challenge, public)
	}
	prm := getJSONMap(t, params["resource_metadata"])
	servers, _ := prm["authorization_servers"].([]any)
	if len(servers) == 0 || prm["resource"] != public {
		t.Fatalf("metadata %v", prm)
	}
	issuer := servers[0].(string) // both hosts take the first
	scopes := params["scope"]     // the challenge wins over scopes_supported in both
	if ss, _ := prm["scopes_supported"].([]any); len(ss) != 1 || ss[0] != scopes {
		t.Errorf("scopes_supported %v differ from the challenge's %q", prm["scopes_supported"], scopes)
	}

	// 2. Authorization server metadata, found by the hosts' discovery order.
	as := discoverAS(t, client, issuer)
	authz, _ := as["authorization_endpoint"].(string)
	tokenURL, _ := as["token_endpoint"].(string)

	// 3. Authorization request with PKCE and the resource, as VS Code's client.
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	redirect := "http://127.0.0.1:33418/"
	q := url.Values{"client_id": {vsCodeClientID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {scopes},
		"resource": {prm["resource"].(string)}, "state": {"st"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"}, "prompt": {"consent"}}
	noFollow := *client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(authz + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := ""
	if loc != nil {
		code = loc.Query().Get("code")
	}
	if code == "" {
		t.Fatalf("authorization: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// 4. Token request with the same resource.
	resp, err = client.PostForm(tokenURL, url.Values{"grant_type": {"authorization_code"}, "client_id": {vsCodeClientID}, "code": {code},
		"redirect_uri": {redirect}, "code_verifier": {verifier}, "resource": {prm["resource"].(string)}})
	if err != nil {
		t.Fatal(err)
	}
	var tok map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	at, _ := tok["access_token"].(string)
	if resp.StatusCode != 200 || at == "" {
		t.Fatalf("token: status %d %v", resp.StatusCode, tok["error_description"])
	}

	// 5. The token opens the MCP endpoint.
	resp = testenv.MCPRequest(t, http.MethodPost, srv.base+"/mcp", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"vscode-like","version":"1"}}}`,
		map[string]string{"Authorization": "Bearer " + at})
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("initialize with the host's token: status %d", resp.StatusCode)
	}
}

// TestVSCodeRecognisesEntraMetadata: for an Entra tenant, serve's authorization_servers[0]
// matches VS Code's Microsoft provider globs (so VS Code signs in with its built-in Microsoft
// account), and its scopes are full <app-id-uri>/<scope> ones.
func TestVSCodeRecognisesEntraMetadata(t *testing.T) {
	jwks := authtest.NewJWKSServer(t, authtest.NewKey(t, "k1"))
	srv := startServe(t, "--tenant-id", tenantA, "--jwks-uri", jwks.URL, "--api-client-id", "api-id", "--app-id-uri", "https://mcp.example.com/mcp")
	prm := getJSONMap(t, srv.base+"/.well-known/oauth-protected-resource/mcp")
	as := prm["authorization_servers"].([]any)[0].(string)
	matched := false
	for _, g := range vsCodeMicrosoftGlobs {
		// VS Code's globs: "*" spans one path segment here, as path.Match treats it.
		if ok, _ := path.Match(strings.TrimPrefix(g, "https://"), strings.TrimPrefix(as, "https://")); ok {
			matched = true
		}
	}
	if !matched {
		t.Errorf("authorization server %s matches none of VS Code's Microsoft globs %v", as, vsCodeMicrosoftGlobs)
	}
	if ss, _ := prm["scopes_supported"].([]any); len(ss) != 1 || ss[0] != "https://mcp.example.com/mcp/execute" {
		t.Errorf("scopes_supported %v", prm["scopes_supported"])
	}
}
