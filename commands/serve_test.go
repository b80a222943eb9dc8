package commands

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/auth/authtest"
	"github.com/fastmcp-auth/fastmcp-auth/internal/httpx"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// The tests that run the command line are not parallel: urfave/cli applies its global help
// and version flags on every run, a data race between concurrent runs.

func TestServeSettingErrors(t *testing.T) {
	checkFailures(t, 20*time.Second, []failureCase{
		{name: "no authority", args: []string{"serve", "--api-client-id", "api"}, code: ExitUsage, msg: "no authority: set --tenant-id"},
		{name: "no api client id", args: []string{"serve", "--tenant-id", "t1"}, code: ExitUsage, msg: "--api-client-id is required (or set FASTMCP_AUTH_API_CLIENT_ID), or give --audience"},
		{name: "another API's scope", args: []string{"serve", "--no-auth", "--api-client-id", "y", "--required-scope", "api://x/execute"}, code: ExitUsage, msg: `--required-scope takes a scope name such as execute, or its full form <app-id-uri>/execute (app-id-uri "api://y"), not "api://x/execute"`},
		{name: "bad app id uri", args: []string{"serve", "--no-auth", "--app-id-uri", "not a uri"}, code: ExitUsage, msg: "--app-id-uri: the identifier URI must be an absolute URI"},
		{name: "cert without key", args: []string{"serve", "--no-auth", "--tls-cert", "c.pem"}, code: ExitUsage, msg: "--tls-cert and --tls-key must be given together"},
		{name: "negative progress interval", args: []string{"serve", "--no-auth", "--progress-interval", "-1s"}, code: ExitUsage, msg: "--progress-interval must not be negative"},
		{name: "negative clock skew", args: []string{"serve", "--no-auth", "--clock-skew", "-1s"}, code: ExitUsage, msg: "--clock-skew must not be negative"},
		{name: "relative public url", args: []string{"serve", "--no-auth", "--public-url", "/mcp"}, code: ExitUsage, msg: "--public-url must be the absolute http(s) URL"},
		{name: "origin with a path", args: []string{"serve", "--no-auth", "--allowed-origin", "https://a.example/app"}, code: ExitUsage, msg: "--allowed-origin takes an origin"},
		{name: "addr without port", args: []string{"serve", "--no-auth", "--addr", "localhost"}, code: ExitUsage, msg: "--addr must be host:port"},
		// An impossible address is exit 2 before the authority (here unreachable, exit 4) is contacted.
		{name: "port out of range", args: []string{"serve", "--authority", "https://127.0.0.1:1/tenant", "--api-client-id", "api", "--addr", "127.0.0.1:99999"}, code: ExitUsage,
			msg: `--addr must be host:port with an IP address or host name and a port from 0 to 65535, such as 0.0.0.0:8000, not "127.0.0.1:99999"`},
		{name: "port not a number", args: []string{"serve", "--no-auth", "--addr", "127.0.0.1:abc"}, code: ExitUsage, msg: `not "127.0.0.1:abc"`},
		{name: "not an IP address", args: []string{"serve", "--no-auth", "--addr", "999.1.1.1:19400"}, code: ExitUsage, msg: `not "999.1.1.1:19400"`},
		{name: "host with a space", args: []string{"serve", "--no-auth", "--addr", "my host:19400"}, code: ExitUsage, msg: `not "my host:19400"`},
		{name: "metrics port out of range", args: []string{"serve", "--authority", "https://127.0.0.1:1/tenant", "--api-client-id", "api", "--upstream", "http://127.0.0.1:1/mcp", "--metrics-addr", "127.0.0.1:99999"}, code: ExitUsage,
			msg: `--metrics-addr must be host:port with an IP address or host name and a port from 0 to 65535, such as 127.0.0.1:9090, not "127.0.0.1:99999"`},
		{name: "path without slash", args: []string{"serve", "--no-auth", "--path", "mcp"}, code: ExitUsage, msg: "--path must be a path"},
		{name: "plain http key set off loopback", args: []string{"serve", "--jwks-uri", "http://keys.example/keys", "--issuer", "https://iss", "--audience", "a"}, code: ExitUsage, msg: "must use https"},
		{name: "unknown flag", args: []string{"serve", "--no-such-flag"}, code: ExitUsage, msg: "no-such-flag"},
		// Malformed settings are exit 2 before the authority (unreachable here: exit 4) is contacted.
		{name: "issuer not a URL", args: []string{"serve", "--authority", "https://127.0.0.1:1/tenant", "--api-client-id", "api", "--issuer", "notaurl"}, code: ExitUsage,
			msg: `--issuer must be an issuer URL as the tokens' iss claim has it, such as https://login.microsoftonline.com/<tenant-id>/v2.0 or https://sts.windows.net/<tenant-id>/ (https, or http on loopback), not "notaurl"`},
		{name: "issuer over plain http", args: []string{"serve", "--authority", "https://127.0.0.1:1/tenant", "--api-client-id", "api", "--issuer", "http://login.example.com/t/v2.0"}, code: ExitUsage,
			msg: `not "http://login.example.com/t/v2.0"`},
		{name: "issuer with a query", args: []string{"serve", "--authority", "https://127.0.0.1:1/tenant", "--api-client-id", "api", "--issuer", "https://login.example.com/t/v2.0?x=1"}, code: ExitUsage,
			msg: `not "https://login.example.com/t/v2.0?x=1"`},
		{name: "api client id with a space", args: []string{"serve", "--authority", "https://127.0.0.1:1/tenant", "--api-client-id", "has space"}, code: ExitUsage,
			msg: `--api-client-id must be the API's client ID, a GUID or a name of letters, digits, '.', '_' and '-' (such as fastmcp-dev-api), not "has space"; an identifier URI goes in --app-id-uri`},
		{name: "api client id a URI", args: []string{"serve", "--authority", "https://127.0.0.1:1/tenant", "--api-client-id", "api://x"}, code: ExitUsage, msg: `not "api://x"`},
		{
			name: "authority unreachable",
			args: []string{"serve", "--authority", "https://127.0.0.1:1/tenant", "--api-client-id", "api"},
			code: ExitUnreachable, msg: "https://127.0.0.1:1/tenant/v2.0/.well-known/openid-configuration",
		},
		{
			name: "key set unreachable",
			args: []string{"serve", "--jwks-uri", "http://127.0.0.1:1/keys", "--issuer", "https://iss", "--audience", "a"},
			code: ExitUnreachable, msg: "http://127.0.0.1:1/keys",
		},
	})
}

// parseServe runs only the flag resolution of serve on args.
func parseServe(t *testing.T, args ...string) (*serveSettings, error) {
	t.Helper()
	return parseFlags(t, newServeCommand(), serveSettingsFromFlags, args...)
}

func TestServeSettingsDefaults(t *testing.T) {
	base := serveSettings{
		Path: "/mcp", RequiredScopes: []string{"execute"}, ClockSkew: 60 * time.Second, ProgressInterval: time.Second,
	}
	with := func(f func(s *serveSettings)) serveSettings { s := base; f(&s); return s }
	certFile, keyFile := writeTLSPair(t, t.TempDir(), "c")
	tests := []struct {
		name string
		args []string
		want serveSettings
	}{
		{
			name: "entra tenant",
			args: []string{"--tenant-id", "contoso.onmicrosoft.com", "--api-client-id", "api-id"},
			want: with(func(s *serveSettings) {
				s.Addr, s.PublicURL, s.derivedURL = "0.0.0.0:8000", "http://localhost:8000/mcp", true
				s.Authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
				s.Audiences = []string{"api-id", "api://api-id"}
				s.AppIDURI = "api://api-id"
			}),
		},
		{
			name: "full required scope and app id uri",
			args: []string{"--tenant-id", "contoso.onmicrosoft.com", "--api-client-id", "api-id", "--app-id-uri", "https://mcp.example.com/",
				"--required-scope", "https://mcp.example.com/execute", "--required-scope", "read"},
			want: with(func(s *serveSettings) {
				s.Addr, s.PublicURL, s.derivedURL = "0.0.0.0:8000", "http://localhost:8000/mcp", true
				s.Authority = "https://login.microsoftonline.com/contoso.onmicrosoft.com"
				s.Audiences = []string{"api-id", "https://mcp.example.com"}
				s.AppIDURI = "https://mcp.example.com"
				s.RequiredScopes = []string{"execute", "read"}
			}),
		},
		{
			name: "no auth stays on loopback",
			args: []string{"--no-auth"},
			want: with(func(s *serveSettings) {
				s.NoAuth, s.Addr, s.PublicURL, s.derivedURL = true, "127.0.0.1:8000", "http://127.0.0.1:8000/mcp", true
			}),
		},
		{
			name: "explicit key set and issuers need no authority",
			args: []string{
				"--jwks-uri", "https://keys.example/keys", "--issuer", "https://a/v2.0", "--issuer", "https://b/",
				"--audience", "aud1", "--required-scope", "execute", "--required-scope", "admin", "--clock-skew", "5s",
			},
			want: with(func(s *serveSettings) {
				s.Addr, s.PublicURL, s.derivedURL = "0.0.0.0:8000", "http://localhost:8000/mcp", true
				s.JWKSURI, s.Issuers, s.Audiences = "https://keys.example/keys", []string{"https://a/v2.0", "https://b/"}, []string{"aud1"}
				s.RequiredScopes, s.ClockSkew = []string{"execute", "admin"}, 5*time.Second
			}),
		},
		{
			name: "tls, custom path and origins",
			args: []string{
				"--no-auth", "--addr", "[::1]:9443", "--tls-cert", certFile, "--tls-key", keyFile, "--path", "/v1/mcp",
				"--allowed-origin", "https://app.example", "--stateless", "--progress-interval", "0s",
			},
			want: with(func(s *serveSettings) {
				s.NoAuth, s.Addr, s.PublicURL, s.derivedURL = true, "[::1]:9443", "https://[::1]:9443/v1/mcp", true
				s.TLSCert, s.TLSKey, s.Path = certFile, keyFile, "/v1/mcp"
				s.AllowedOrigins, s.Stateless, s.ProgressInterval = []string{"https://app.example"}, true, 0
			}),
		},
		{
			name: "public url without a path gets the endpoint path",
			args: []string{"--no-auth", "--public-url", "https://mcp.example.com/"},
			want: with(func(s *serveSettings) {
				s.NoAuth, s.Addr, s.PublicURL = true, "127.0.0.1:8000", "https://mcp.example.com/mcp"
			}),
		},
		{
			name: "public url behind a prefix is kept",
			args: []string{"--no-auth", "--addr", "0.0.0.0:8000", "--public-url", "https://gw.example.com/team/mcp"},
			want: with(func(s *serveSettings) {
				s.NoAuth, s.Addr, s.PublicURL = true, "0.0.0.0:8000", "https://gw.example.com/team/mcp"
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseServe(t, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, *got, cmp.AllowUnexported(serveSettings{}), cmpopts.EquateEmpty(), ignoreMaxTokenLifetime,
				cmpopts.IgnoreFields(serveSettings{}, "TLSPair")); diff != "" {
				t.Errorf("settings (-want +got):\n%s", diff)
			}
			if (got.TLSPair != nil) != (tt.want.TLSCert != "") {
				t.Errorf("TLS key pair loaded: %v, want %v", got.TLSPair != nil, tt.want.TLSCert != "")
			}
		})
	}
}

// writeTLSPair writes a self-signed certificate for localhost and its key as PEM files
// <name>-cert.pem and <name>-key.pem in dir, and returns their paths.
func writeTLSPair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := testenv.SelfSignedPEM(t, key, "localhost", "localhost")
	return testenv.WriteFile(t, dir, name+"-cert.pem", certPEM), testenv.WriteFile(t, dir, name+"-key.pem", keyPEM)
}

// TestServeHTTPS: with --tls-cert and --tls-key, serve answers over HTTPS with that certificate
// (the pair loaded with the settings).
func TestServeHTTPS(t *testing.T) {
	certFile, keyFile := writeTLSPair(t, t.TempDir(), "srv")
	srv := startServe(t, "--no-auth", "--tls-cert", certFile, "--tls-key", keyFile)
	pemCert, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCert)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}}}
	resp, err := hc.Get(strings.Replace(srv.base, "http://", "https://", 1) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil {
		t.Errorf("GET /healthz over https: status %d, TLS %v; want 200 over TLS", resp.StatusCode, resp.TLS != nil)
	}
}

// TestServeTLSFilesCheckedAtStart: a --tls-cert or --tls-key that cannot be read, or that are
// not a key pair, are exit 2 naming the flag and the file, before the authority (unreachable
// here: exit 4 if it were contacted) is.
func TestServeTLSFilesCheckedAtStart(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeTLSPair(t, dir, "a")
	_, otherKey := writeTLSPair(t, dir, "b")
	notPEM := testenv.WriteFile(t, dir, "not.pem", "hello\n")
	missing := filepath.Join(dir, "missing.pem")
	serve := func(certFile, keyFile string) []string {
		return []string{"serve", "--authority", "https://127.0.0.1:1/tenant", "--api-client-id", "api", "--addr", "127.0.0.1:0",
			"--tls-cert", certFile, "--tls-key", keyFile}
	}
	checkFailures(t, 20*time.Second, []failureCase{
		{"missing certificate", serve(missing, key), ExitUsage, "could not read --tls-cert " + missing + ": no such file or directory: give the path of a PEM certificate file"},
		{"missing key", serve(cert, missing), ExitUsage, "could not read --tls-key " + missing + ": no such file or directory: give the path of the PEM private key of --tls-cert"},
		{"key of another certificate", serve(cert, otherKey), ExitUsage, "--tls-cert " + cert + " and --tls-key " + otherKey + " are not a usable key pair: tls: private key does not match public key: give a PEM certificate and its own unencrypted private key"},
		{"not PEM", serve(notPEM, key), ExitUsage, "are not a usable key pair"},
	})
}

// TestServeSettingsFromEnvironment cannot run in parallel: it sets environment variables.
func TestServeSettingsFromEnvironment(t *testing.T) {
	for k, v := range map[string]string{
		"FASTMCP_AUTH_ADDR":              "127.0.0.1:9000",
		"FASTMCP_AUTH_JWKS_URI":          "https://keys.example/keys",
		"FASTMCP_AUTH_ISSUER":            "https://a/v2.0,https://b/",
		"FASTMCP_AUTH_AUDIENCE":          "aud1",
		"FASTMCP_AUTH_REQUIRED_SCOPE":    "execute,admin",
		"FASTMCP_AUTH_ALLOWED_ORIGIN":    "https://a.example,http://localhost:3000",
		"FASTMCP_AUTH_STATELESS":         "true",
		"FASTMCP_AUTH_PROGRESS_INTERVAL": "250ms",
	} {
		t.Setenv(k, v)
	}
	// A flag beats the environment.
	got, err := parseServe(t, "--audience", "flag-aud")
	if err != nil {
		t.Fatal(err)
	}
	want := serveSettings{
		Addr: "127.0.0.1:9000", Path: "/mcp", PublicURL: "http://127.0.0.1:9000/mcp", derivedURL: true,
		JWKSURI: "https://keys.example/keys", Issuers: []string{"https://a/v2.0", "https://b/"}, Audiences: []string{"flag-aud"},
		RequiredScopes: []string{"execute", "admin"}, ClockSkew: 60 * time.Second, Stateless: true, ProgressInterval: 250 * time.Millisecond,
		AllowedOrigins: []string{"https://a.example", "http://localhost:3000"},
	}
	if diff := cmp.Diff(want, *got, cmp.AllowUnexported(serveSettings{}), cmpopts.EquateEmpty(), ignoreMaxTokenLifetime); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
}

func TestDerivePublicURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		tls  bool
		want string
	}{
		{"0.0.0.0:8000", false, "http://localhost:8000/mcp"},
		{":8000", false, "http://localhost:8000/mcp"},
		{"[::]:8000", false, "http://localhost:8000/mcp"},
		{"127.0.0.1:8000", false, "http://127.0.0.1:8000/mcp"},
		{"[::1]:8443", true, "https://[::1]:8443/mcp"},
		{"mcp.internal:443", true, "https://mcp.internal/mcp"},
		{"0.0.0.0:80", false, "http://localhost/mcp"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			if got := derivePublicURL(tt.addr, tt.tls, "/mcp"); got != tt.want {
				t.Errorf("derivePublicURL(%q, %v) = %q, want %q", tt.addr, tt.tls, got, tt.want)
			}
		})
	}
}

// runningServe is a `fastmcp-auth serve` running in the background.
type runningServe struct {
	base   string // http://127.0.0.1:port
	stderr *testenv.SyncBuffer
	stop   func() int // cancels (SIGTERM) and returns the exit code
}

var servingAddr = regexp.MustCompile(`"msg":"serving".*?"addr":"([^"]+)"`)

// startServe runs serve with args on a free loopback port and waits for its "serving" line.
func startServe(t *testing.T, args ...string) *runningServe {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &testenv.SyncBuffer{}
	done := make(chan int, 1)
	all := append([]string{"fastmcp-auth", "serve", "--addr", "127.0.0.1:0", "--log-format", "json", "--progress-interval", "0s"}, args...)
	go func() { done <- Run(ctx, all, io.Discard, stderr) }()
	stopped := false
	code := 0
	stop := func() int {
		if !stopped {
			stopped = true
			cancel()
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("serve did not stop within 10s")
			}
		}
		return code
	}
	t.Cleanup(func() { stop() })
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if m := servingAddr.FindStringSubmatch(stderr.String()); m != nil {
			return &runningServe{base: "http://" + m[1], stderr: stderr, stop: stop}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("serve never logged serving: %s", stderr.String())
	return nil
}

// post sends body to url with token and returns status, WWW-Authenticate and the JSON body.
func post(t *testing.T, url, token, body string) (int, string, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), m
}

func getJSONMap(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return m
}

func TestServeWithExplicitKeySet(t *testing.T) {
	const tenant, api = "11111111-2222-3333-4444-555555555555", "api-client"
	key := authtest.NewKey(t, "k1")
	other := authtest.NewKey(t, "k1") // same kid, different key: a forged signature
	jwks := authtest.NewJWKSServer(t, key)
	v2iss := "https://login.microsoftonline.com/" + tenant + "/v2.0"
	v1iss := "https://sts.windows.net/" + tenant + "/"
	srv := startServe(t, "--jwks-uri", jwks.URL, "--issuer", v2iss, "--issuer", v1iss, "--api-client-id", api)

	expired := authtest.EntraV2Claims(tenant, v2iss, api, "execute")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	expired["iat"] = time.Now().Add(-2 * time.Hour).Unix()
	expired["nbf"] = time.Now().Add(-2 * time.Hour).Unix()
	app := authtest.EntraV2Claims(tenant, v2iss, api)
	app["roles"] = []string{"execute"}
	tests := []struct {
		name       string
		token      string
		wantStatus int
		wantError  string
	}{
		{name: "v2 token", token: authtest.Mint(t, key, authtest.EntraV2Claims(tenant, v2iss, api, "execute")), wantStatus: 200},
		{name: "v1 token", token: authtest.Mint(t, key, authtest.EntraV1Claims(tenant, "api://"+api, "execute")), wantStatus: 200},
		{name: "app-only token", token: authtest.Mint(t, key, app), wantStatus: 200},
		{name: "no token", wantStatus: 401, wantError: "unauthorized"},
		{name: "missing scope", token: authtest.Mint(t, key, authtest.EntraV2Claims(tenant, v2iss, api, "read")), wantStatus: 403, wantError: "insufficient_scope"},
		{name: "wrong audience", token: authtest.Mint(t, key, authtest.EntraV2Claims(tenant, v2iss, "other-api", "execute")), wantStatus: 401, wantError: "invalid_token"},
		{name: "another tenant", token: authtest.Mint(t, key, authtest.EntraV2Claims("99999999-2222-3333-4444-555555555555", "https://login.microsoftonline.com/99999999-2222-3333-4444-555555555555/v2.0", api, "execute")), wantStatus: 401, wantError: "invalid_token"},
		{name: "expired", token: authtest.Mint(t, key, expired), wantStatus: 401, wantError: "invalid_token"},
		{name: "wrong key", token: authtest.Mint(t, other, authtest.EntraV2Claims(tenant, v2iss, api, "execute")), wantStatus: 401, wantError: "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, challenge, body := post(t, srv.base+"/reverse", tt.token, `{"input_string":"abc"}`)
			if status != tt.wantStatus {
				t.Fatalf("status %d, want %d (%v)", status, tt.wantStatus, body)
			}
			if tt.wantError == "" {
				if body["reversed"] != "cba" {
					t.Errorf("body %v, want reversed cba", body)
				}
				return
			}
			if body["error"] != tt.wantError {
				t.Errorf("error %v, want %s", body["error"], tt.wantError)
			}
			if !strings.Contains(challenge, `resource_metadata="`+srv.base+`/.well-known/oauth-protected-resource/mcp"`) || !strings.Contains(challenge, `scope="api://api-client/execute"`) {
				t.Errorf("challenge %q lacks resource_metadata or scope", challenge)
			}
		})
	}

	t.Run("metadata", func(t *testing.T) {
		got := getJSONMap(t, srv.base+"/.well-known/oauth-protected-resource/mcp")
		want := map[string]any{
			"resource": srv.base + "/mcp", "authorization_servers": []any{v2iss}, "scopes_supported": []any{"api://api-client/execute"},
			"bearer_methods_supported": []any{"header"}, "resource_name": "fastmcp-auth",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("metadata (-want +got):\n%s", diff)
		}
	})

	t.Run("mcp call", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tok := authtest.Mint(t, key, authtest.EntraV2Claims(tenant, v2iss, api, "execute"))
		var mu sync.Mutex
		var steps []float64
		client := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, &mcp.ClientOptions{
			ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
				mu.Lock()
				steps = append(steps, r.Params.Progress)
				mu.Unlock()
			},
		})
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{
			Endpoint: srv.base + "/mcp", MaxRetries: -1,
			HTTPClient: &http.Client{Transport: &httpx.BearerTransport{Token: tok}},
		}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "reverse_tool", Arguments: map[string]any{"query": "abc"}, Meta: mcp.Meta{"progressToken": "p"}})
		if err != nil || res.IsError {
			t.Fatalf("call: %v %+v", err, res)
		}
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := len(steps)
			mu.Unlock()
			if n == 5 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		if diff := cmp.Diff([]float64{1, 2, 3, 4, 5}, steps); diff != "" {
			t.Errorf("progress (-want +got):\n%s", diff)
		}
	})

	if code := srv.stop(); code != ExitOK {
		t.Errorf("exit code after SIGTERM %d, want 0", code)
	}
	logs := srv.stderr.String()
	for _, want := range []string{`"auth":true`, `"msg":"request"`, `"reason":"wrong_audience"`, `"subject":"` + authtest.ObjectID + `"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	for _, tt := range tests {
		if tt.token != "" && strings.Contains(logs, tt.token) {
			t.Errorf("the log holds the %s token", tt.name)
		}
	}
}

// fakeAuthority serves an HTTPS discovery document for tenant whose issuer is
// <url>/<issuerTenant>/v2.0 (with the authorization and token endpoints the web console
// needs), and key's key set; it returns the server URL and a CA file trusting it.
func fakeAuthority(t *testing.T, key *authtest.Key, tenant, issuerTenant string) (string, string) {
	t.Helper()
	var authority *httptest.Server
	authority = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		b := authority.URL + "/" + tenant
		switch r.URL.Path {
		case "/" + tenant + "/v2.0/.well-known/openid-configuration":
			fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q,"authorization_endpoint":%q,"token_endpoint":%q}`,
				authority.URL+"/"+issuerTenant+"/v2.0", b+"/discovery/v2.0/keys", b+"/oauth2/v2.0/authorize", b+"/oauth2/v2.0/token")
		case "/" + tenant + "/discovery/v2.0/keys":
			_, _ = w.Write(authtest.JWKS(key))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(authority.Close)
	return authority.URL, writeCA(t, authority)
}

// writeCA writes the certificate of a TLS test server to a PEM file for --ca-file.
func writeCA(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	return testenv.WriteFile(t, t.TempDir(), "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
}

func TestServeDiscoversTheAuthority(t *testing.T) {
	key := authtest.NewKey(t, "k1")
	authorityURL, caFile := fakeAuthority(t, key, "dev", "dev")
	srv := startServe(t, "--authority", authorityURL+"/dev", "--ca-file", caFile, "--api-client-id", "dev-api")
	iss := authorityURL + "/dev/v2.0"

	status, _, body := post(t, srv.base+"/reverse", authtest.Mint(t, key, authtest.EntraV2Claims("dev", iss, "dev-api", "execute")), `{"input_string":"ab"}`)
	if status != 200 || body["reversed"] != "ba" {
		t.Errorf("got %d %v, want 200 ba", status, body)
	}
	status, _, body = post(t, srv.base+"/reverse", authtest.Mint(t, key, authtest.EntraV2Claims("dev", "https://sts.windows.net/dev/", "dev-api", "execute")), `{"input_string":"ab"}`)
	if status != 401 || body["error"] != "invalid_token" {
		t.Errorf("a v1 issuer of a non-Microsoft authority: got %d %v, want 401 invalid_token", status, body)
	}
	prm := getJSONMap(t, srv.base+"/.well-known/oauth-protected-resource")
	if diff := cmp.Diff([]any{iss}, prm["authorization_servers"]); diff != "" {
		t.Errorf("authorization_servers (-want +got):\n%s", diff)
	}
}

func TestServeNoAuthWarns(t *testing.T) {
	srv := startServe(t, "--no-auth")
	status, _, body := post(t, srv.base+"/reverse", "", `{"input_string":"ab"}`)
	if status != 200 || body["reversed"] != "ba" {
		t.Errorf("got %d %v, want 200 ba", status, body)
	}
	if !strings.Contains(srv.stderr.String(), `"level":"WARN","msg":"authentication is disabled`) {
		t.Errorf("no warning about --no-auth in %s", srv.stderr.String())
	}
	if !strings.Contains(srv.stderr.String(), `"auth":false`) {
		t.Errorf("serving line does not say auth is off")
	}
}

// TestServeRefusesAMultiTenantIssuerTemplate: an authority such as .../common publishes the
// issuer https://login.microsoftonline.com/{tenantid}/v2.0; serving with it would reject every
// token, so serve stops at once with a usage error that says what to set.
func TestServeRefusesAMultiTenantIssuerTemplate(t *testing.T) {
	authorityURL, caFile := fakeAuthority(t, authtest.NewKey(t, "k1"), "common", "{tenantid}")
	code, _, msg := runMain(context.Background(), "serve", "--addr", "127.0.0.1:0",
		"--authority", authorityURL+"/common", "--ca-file", caFile, "--api-client-id", "api")
	if code != ExitUsage {
		t.Fatalf("exit %d, want %d; stderr %s", code, ExitUsage, msg)
	}
	if !strings.Contains(msg, "multi-tenant") || !strings.Contains(msg, "--tenant-id") || !strings.Contains(msg, "--issuer") {
		t.Errorf("stderr %q: want the multi-tenant explanation naming --tenant-id and --issuer", msg)
	}
}

// TestServeGCPercent: serve collects at GOGC=50 unless GOGC is set in the environment, even to
// the default or to "off", which the runtime has then already applied; empty counts as unset.
func TestServeGCPercent(t *testing.T) {
	t.Parallel()
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	for _, tc := range []struct {
		vars    map[string]string
		percent int
		set     bool
	}{
		{vars: nil, percent: 50, set: true},
		{vars: map[string]string{"GOMEMLIMIT": "64MiB"}, percent: 50, set: true},
		{vars: map[string]string{"GOGC": "100"}},
		{vars: map[string]string{"GOGC": "off"}},
		{vars: map[string]string{"GOGC": ""}, percent: 50, set: true},
	} {
		percent, set := serveGCPercent(env(tc.vars))
		if percent != tc.percent || set != tc.set {
			t.Errorf("environment %v: (%d, %t), want (%d, %t)", tc.vars, percent, set, tc.percent, tc.set)
		}
	}
}

// TestListenErrorHint: "free the port" is said only when the port is taken; an address that is
// not this machine's gets its own fix.
func TestListenErrorHint(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, err = net.Listen("tcp", taken.Addr().String())
	if got := listenError(flagAddr, taken.Addr().String(), err).Error(); !strings.Contains(got, "free the port or choose another --addr") {
		t.Errorf("port in use: %q, want the hint to free the port", got)
	}
	// 192.0.2.1 (TEST-NET-1, RFC 5737) is no address of this machine.
	_, err = net.Listen("tcp", "192.0.2.1:0")
	if err == nil {
		t.Skip("192.0.2.1 is an address of this machine")
	}
	got := listenError(flagMetricsAddr, "192.0.2.1:0", err).Error()
	if strings.Contains(got, "free the port") || !strings.Contains(got, "--metrics-addr") {
		t.Errorf("address not available: %q, want --metrics-addr named and no hint to free the port", got)
	}
}
