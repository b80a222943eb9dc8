package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth/authtest"
)

// Tests of the issue 10 hardening at the command level. Like the other command-line tests
// they are not parallel (see serve_test.go).

// TestServeRefusesHostileTokens runs serve and forges the audit's tokens: each gets 401
// invalid_token with the description the issue names, in the challenge.
func TestServeRefusesHostileTokens(t *testing.T) {
	const tenant, api = "11111111-2222-3333-4444-555555555555", "api-client"
	key := authtest.NewKey(t, "k1")
	jwks := authtest.NewJWKSServer(t, key)
	iss := "https://login.microsoftonline.com/" + tenant + "/v2.0"
	srv := startServe(t, "--jwks-uri", jwks.URL, "--issuer", iss, "--api-client-id", api, "--max-token-lifetime", "2h")

	good := func() map[string]any { return authtest.EntraV2Claims(tenant, iss, api, "execute") }
	noSubject := good()
	delete(noSubject, "sub")
	delete(noSubject, "oid")
	longLived := good()
	longLived["exp"] = time.Now().Add(3 * time.Hour).Unix()
	foreign := good()
	foreign["aud"] = "other-api"
	payload, _ := json.Marshal(foreign)
	repeated := authtest.MintPayload(t, key, []byte(strings.TrimSuffix(string(payload), "}")+`,"AUD":"`+api+`"}`))

	for _, tc := range []struct {
		name, token, desc string
	}{
		{"claim repeated in another case", repeated, "token repeats the claim 'aud'"},
		{"no subject", authtest.Mint(t, key, noSubject), "token names no subject (sub or oid)"},
		{"exp beyond --max-token-lifetime", authtest.Mint(t, key, longLived), "token lifetime exceeds the accepted maximum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, challenge, _ := post(t, srv.base+"/reverse", tc.token, `{"input_string":"abc"}`)
			if status != 401 || !strings.Contains(challenge, `error="invalid_token"`) || !strings.Contains(challenge, tc.desc) {
				t.Errorf("status %d, challenge %q; want 401 invalid_token with %q", status, challenge, tc.desc)
			}
		})
	}
	if status, _, _ := post(t, srv.base+"/reverse", authtest.Mint(t, key, good()), `{"input_string":"abc"}`); status != 200 {
		t.Errorf("a good token got %d", status)
	}
}

func TestServeMaxTokenLifetimeSetting(t *testing.T) {
	s, err := parseServe(t, "--no-auth")
	if err != nil || s.MaxTokenLifetime != 48*time.Hour {
		t.Fatalf("default --max-token-lifetime %v (%v), want 48h", s.MaxTokenLifetime, err)
	}
	t.Setenv("FASTMCP_AUTH_MAX_TOKEN_LIFETIME", "30h")
	if s, err := parseServe(t, "--no-auth"); err != nil || s.MaxTokenLifetime != 30*time.Hour {
		t.Fatalf("FASTMCP_AUTH_MAX_TOKEN_LIFETIME=30h gave %v (%v)", s.MaxTokenLifetime, err)
	}
	for _, v := range []string{"0s", "-1h"} {
		code, _, stderr := runMain(context.Background(), "serve", "--no-auth", "--max-token-lifetime", v)
		if code != ExitUsage || !strings.Contains(stderr, "error: --max-token-lifetime must be a positive duration") {
			t.Errorf("--max-token-lifetime %s: exit %d, stderr %q", v, code, stderr)
		}
	}
}

// TestWarnExposure: a server reachable from other machines says once what it lacks; a
// loopback one says nothing.
func TestWarnExposure(t *testing.T) {
	const clearText, hostHeader = "bearer tokens travel in clear text", "takes its URL from each request's Host header"
	for _, tc := range []struct {
		name string
		s    serveSettings
		want []string
	}{
		{"all interfaces, auth, no TLS, no public URL", serveSettings{Addr: "0.0.0.0:8000", derivedURL: true}, []string{clearText, hostHeader}},
		{"empty host", serveSettings{Addr: ":8000", derivedURL: true}, []string{clearText, hostHeader}},
		{"LAN address, public URL", serveSettings{Addr: "192.0.2.1:8000", PublicURL: "https://mcp.example.com/mcp"}, []string{clearText}},
		{"TLS, public URL", serveSettings{Addr: "0.0.0.0:8443", TLSCert: "c.pem"}, nil},
		{"no auth, all interfaces", serveSettings{Addr: "0.0.0.0:8000", NoAuth: true, derivedURL: true}, []string{hostHeader}},
		{"loopback v4", serveSettings{Addr: "127.0.0.1:8000", derivedURL: true}, nil},
		{"loopback v6", serveSettings{Addr: "[::1]:8000", derivedURL: true}, nil},
		{"localhost", serveSettings{Addr: "localhost:8000", derivedURL: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			warnExposure(&tc.s, slog.New(slog.NewJSONHandler(&buf, nil)))
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(tc.want) == 0 {
				if buf.Len() != 0 {
					t.Errorf("logged %q, want nothing", buf.String())
				}
				return
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("logged %d lines, want %d: %q", len(lines), len(tc.want), buf.String())
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d %q lacks %q", i, lines[i], w)
				}
			}
		})
	}
}

// TestClientRefusesPlainHTTP: tools, call and proxy refuse to send a token over plain http to
// a host that is not loopback, before anything is sent: exit 2 at once, with the reason and
// --allow-http named. (The host is under .invalid: had anything been sent, the exit would be 4.)
func TestClientRefusesPlainHTTP(t *testing.T) {
	t.Setenv("FASTMCP_AUTH_ENV_FILE", "/dev/null")
	const remote = "http://mcp.example.invalid/mcp"
	for _, args := range [][]string{
		{"tools", "--server", remote, "--token", "good"},
		{"call", "--server", remote, "--token", "good", "reverse_tool", "query=x"},
		{"proxy", "--server", remote, "--token", "good"},
		{"tools", "--server", "HTTP://192.0.2.1:8000/mcp", "--token", "good"},
	} {
		code, stdout, stderr := runMain(context.Background(), args...)
		if code != ExitUsage || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q; want 2 and nothing", args, code, stdout)
		}
		for _, want := range []string{"error: --server", "clear text", "--allow-http", "FASTMCP_AUTH_ALLOW_HTTP"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("%v: stderr %q lacks %q", args, stderr, want)
			}
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: stderr is not one line: %q", args, stderr)
		}
	}
}

// TestCheckServerURL covers the way out (--allow-http, its variable) and --no-auth, where no
// token is sent and nothing is refused.
func TestCheckServerURL(t *testing.T) {
	check := func(env map[string]string, args ...string) error {
		t.Helper()
		for k, v := range env {
			t.Setenv(k, v)
		}
		var got error
		cmd := &cli.Command{Name: "x", Flags: clientFlags(), Action: func(c *cli.Context) error {
			got = checkServerURL(c, c.String(flagServer), "https://mcp.example.com/mcp")
			return nil
		}}
		runAction(t, cmd, args...)
		return got
	}
	const remote = "http://mcp.example.com/mcp"
	for _, tc := range []struct {
		name    string
		env     map[string]string
		args    []string
		refused bool
	}{
		{"plain http, remote", nil, []string{"--server", remote}, true},
		{"--allow-http", nil, []string{"--server", remote, "--allow-http"}, false},
		{"FASTMCP_AUTH_ALLOW_HTTP", map[string]string{"FASTMCP_AUTH_ALLOW_HTTP": "true"}, []string{"--server", remote}, false},
		{"--no-auth", nil, []string{"--server", remote, "--no-auth"}, false},
		{"https", nil, []string{"--server", "https://mcp.example.com/mcp"}, false},
		{"loopback", nil, []string{"--server", "http://[::1]:8000/mcp"}, false},
		{"default server", nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := check(tc.env, tc.args...)
			if (err != nil) != tc.refused {
				t.Fatalf("error %v, want refused=%v", err, tc.refused)
			}
			if err != nil && ExitCode(err) != ExitUsage {
				t.Errorf("exit code %d, want 2", ExitCode(err))
			}
		})
	}
}

// redirectingServer answers every request with a 307 to target (same path).
func redirectingServer(t *testing.T, target string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		http.Redirect(w, r, target+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestClientTokenStaysOnOrigin: a server redirecting to the same host on another port (where
// Go's client would keep the Authorization header) gets the request refused; the other port
// never sees the token. tools (mcpclient) and proxy (mcpproxy) both.
func TestClientTokenStaysOnOrigin(t *testing.T) {
	t.Setenv("FASTMCP_AUTH_ENV_FILE", "/dev/null")
	var mu sync.Mutex
	var leaked []string
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	t.Cleanup(thief.Close)
	from := redirectingServer(t, thief.URL)

	code, _, stderr := runMain(context.Background(), "tools", "--server", from+"/mcp", "--token", "tok-SECRET")
	if code == ExitOK || !strings.Contains(stderr, "redirect") || !strings.Contains(stderr, thief.URL) {
		t.Errorf("tools: exit %d, stderr %q; want a failure naming the redirect and its target", code, stderr)
	}
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}` + "\n"
	_, stdout, _ := runProxyCLI(t, init, "--server", from+"/mcp", "--token", "tok-SECRET")
	if !strings.Contains(stdout, `"error"`) || !strings.Contains(stdout, "redirect") {
		t.Errorf("proxy: stdout %q, want a JSON-RPC error naming the redirect", stdout)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range leaked {
		if a != "" {
			t.Errorf("the other origin received Authorization %q", a)
		}
	}
	if len(leaked) != 0 {
		t.Errorf("the other origin received %d requests, want none", len(leaked))
	}
}

// TestTokenFlagWarning: --token on a terminal prints one warning line naming
// FASTMCP_AUTH_TOKEN; the variable itself, or no terminal, prints nothing.
func TestTokenFlagWarning(t *testing.T) {
	ctx := cliCtx(t)
	run := func(tty bool, args ...string) string {
		stderr := &terminalBuffer{tty: tty}
		var got string
		if err := clientTokenApp(stderr, &got).RunContext(ctx, append([]string{"t"}, args...)); err != nil {
			t.Fatal(err)
		}
		if got != "abc" {
			t.Fatalf("token %q, want abc", got)
		}
		return stderr.String()
	}
	if got := run(true, "--token", "abc"); !strings.HasPrefix(got, "warning: --token") || !strings.Contains(got, "FASTMCP_AUTH_TOKEN") || strings.Count(got, "\n") != 1 || strings.Contains(got, "abc") {
		t.Errorf("--token on a terminal: stderr %q, want one warning line naming FASTMCP_AUTH_TOKEN", got)
	}
	if got := run(false, "--token", "abc"); got != "" {
		t.Errorf("--token without a terminal: stderr %q, want nothing", got)
	}
	t.Setenv("FASTMCP_AUTH_TOKEN", "abc")
	if got := run(true); got != "" {
		t.Errorf("FASTMCP_AUTH_TOKEN on a terminal: stderr %q, want nothing", got)
	}
}

// ignoreMaxTokenLifetime leaves --max-token-lifetime out of the serve settings comparisons of
// serve_test.go; TestServeMaxTokenLifetimeSetting checks it.
var ignoreMaxTokenLifetime = cmpopts.IgnoreFields(serveSettings{}, "MaxTokenLifetime")
