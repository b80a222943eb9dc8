package commands

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth/authtest"
)

// parseWeb runs only the flag resolution of serve and --web on args.
func parseWeb(t *testing.T, args ...string) (*webSettings, error) {
	t.Helper()
	return parseFlags(t, newServeCommand(), func(c *cli.Context) (*webSettings, error) {
		s, err := serveSettingsFromFlags(c)
		if err != nil {
			return nil, err
		}
		return webSettingsFromFlags(c, s)
	}, args...)
}

func TestServeWebSettings(t *testing.T) {
	const authority = "https://login.example.com/contoso"
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    *webSettings
		wantErr string // substring of a usage error
	}{
		{name: "off", args: []string{"--authority", authority, "--api-client-id", "api"}, want: nil},
		{name: "no auth", args: []string{"--web", "--no-auth"}, want: &webSettings{}},
		{
			name: "default scopes from the required scopes",
			args: []string{"--web", "--authority", authority, "--api-client-id", "api", "--client-id", "spa", "--required-scope", "execute", "--required-scope", "read"},
			want: &webSettings{ClientID: "spa", Authority: authority, Scopes: []string{"api://api/execute", "api://api/read"}},
		},
		{
			name: "from the environment",
			env:  map[string]string{"FASTMCP_AUTH_WEB": "true", "FASTMCP_AUTH_CLIENT_ID": "spa", "FASTMCP_AUTH_TENANT_ID": "contoso", "FASTMCP_AUTH_API_CLIENT_ID": "api"},
			want: &webSettings{ClientID: "spa", Authority: "https://login.microsoftonline.com/contoso", Scopes: []string{"api://api/execute"}},
		},
		{
			name: "explicit scopes",
			args: []string{"--web", "--authority", authority, "--api-client-id", "api", "--client-id", "spa", "--scope", "https://api.example.com/execute"},
			want: &webSettings{ClientID: "spa", Authority: authority, Scopes: []string{"https://api.example.com/execute"}},
		},
		{
			name: "scope prefix from an Application ID URI audience",
			args: []string{"--web", "--authority", authority, "--audience", "https://mcp.example.com", "--client-id", "spa"},
			want: &webSettings{ClientID: "spa", Authority: authority, Scopes: []string{"https://mcp.example.com/execute"}},
		},
		{
			name:    "no client id",
			args:    []string{"--web", "--authority", authority, "--api-client-id", "api"},
			wantErr: "--web needs --client-id (or FASTMCP_AUTH_CLIENT_ID)",
		},
		{
			name:    "no authority with an explicit key set",
			args:    []string{"--web", "--jwks-uri", "https://keys.example.com/k", "--issuer", "https://iss.example.com", "--api-client-id", "api", "--client-id", "spa"},
			wantErr: "--web signs in at the authority: no authority",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := parseWeb(t, tt.args...)
			if wantUsageError(t, err, tt.wantErr) {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServeWebServesTheConsole(t *testing.T) {
	authority, caFile := fakeAuthority(t, authtest.NewKey(t, "k1"), "dev", "dev")
	srv := startServe(t, "--web", "--client-id", "spa-id", "--authority", authority+"/dev", "--ca-file", caFile, "--api-client-id", "dev-api")

	resp, err := http.Get(srv.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte(`src="assets/app.js"`)) {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self' "+authority+";") {
		t.Errorf("CSP %q does not allow exactly this origin and the authority's", csp)
	}
	got := getJSONMap(t, srv.base+"/config.json")
	want := map[string]any{
		"authRequired":      true,
		"authority":         authority + "/dev",
		"issuer":            authority + "/dev/v2.0",
		"clientId":          "spa-id",
		"scopes":            []any{"api://dev-api/execute", "openid", "profile"},
		"authorizeEndpoint": authority + "/dev/oauth2/v2.0/authorize",
		"tokenEndpoint":     authority + "/dev/oauth2/v2.0/token",
		"mcpPath":           "/mcp",
		"restPath":          "/reverse",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config.json (-want +got):\n%s", diff)
	}
	// The MCP endpoint and the metadata still answer as without --web.
	if status, _, _ := post(t, srv.base+"/reverse", "", `{"input_string":"ab"}`); status != 401 {
		t.Errorf("POST /reverse without a token: %d, want 401", status)
	}
	if !strings.Contains(srv.stderr.String(), `"msg":"web console"`) || !strings.Contains(srv.stderr.String(), `"redirect_uri":"`+srv.base+`/"`) {
		t.Errorf("no web console line with its redirect URI in %s", srv.stderr.String())
	}
}

func TestServeWebNoAuth(t *testing.T) {
	srv := startServe(t, "--web", "--no-auth")
	got := getJSONMap(t, srv.base+"/config.json")
	if diff := cmp.Diff(map[string]any{"authRequired": false, "mcpPath": "/mcp", "restPath": "/reverse"}, got); diff != "" {
		t.Errorf("config.json (-want +got):\n%s", diff)
	}
}

func TestServeWebExitCodes(t *testing.T) {
	authority, caFile := fakeAuthority(t, authtest.NewKey(t, "k1"), "dev", "dev")
	keys := []string{"--jwks-uri", authority + "/dev/discovery/v2.0/keys", "--issuer", authority + "/dev/v2.0", "--ca-file", caFile, "--api-client-id", "a"}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"missing client id", []string{"--web", "--no-auth=false", "--authority", "https://127.0.0.1:1/dev", "--api-client-id", "a"}, ExitUsage, "error: --web needs --client-id"},
		// The key set answers but the authority the console signs in at does not.
		{"unreachable authority", append([]string{"--web", "--client-id", "spa", "--authority", "https://127.0.0.1:1/dev"}, keys...), ExitUnreachable, "error: web console: could not discover the authority: could not reach https://127.0.0.1:1/dev/v2.0/.well-known/openid-configuration"},
		{"authority without the endpoints", append([]string{"--web", "--client-id", "spa", "--authority", authority + "/other"}, keys...), ExitFailure, "error: web console: could not discover the authority: " + authority + "/other/v2.0/.well-known/openid-configuration answered 404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := Run(context.Background(), append([]string{"fastmcp-auth", "serve", "--addr", "127.0.0.1:0"}, tt.args...), io.Discard, &stderr)
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			last := lines[len(lines)-1] // log lines may come first
			if code != tt.wantCode || !strings.HasPrefix(last, tt.wantErr) {
				t.Errorf("exit %d, last line %q; want %d and %q", code, last, tt.wantCode, tt.wantErr)
			}
		})
	}
}
