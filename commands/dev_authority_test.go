package commands

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestDevAuthorityCommandServes starts the command, reads the settings it prints on stdout
// and uses them: the CA file, the authority URL and the client credentials secret from env.
func TestDevAuthorityCommandServes(t *testing.T) {
	t.Setenv(envDevClientSecret, "env-secret")
	dir := t.TempDir()
	var stdout, stderr testenv.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- NewApp(&stdout, &stderr).RunContext(ctx, []string{"fastmcp-auth", "dev-authority", "--addr", "127.0.0.1:0", "--state-dir", dir, "--tenant", "Lab"})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(stdout.String(), "\n") < 4 {
		select {
		case err := <-done:
			t.Fatalf("command ended early: %v\nstderr: %s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no settings printed; stderr: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	env := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("stdout line is not KEY=VALUE: %q", l)
		}
		env[k] = v
	}
	wantKeys := []string{"FASTMCP_AUTH_API_CLIENT_ID", "FASTMCP_AUTH_AUTHORITY", "FASTMCP_AUTH_CA_FILE", "FASTMCP_AUTH_CLIENT_ID"}
	if diff := cmp.Diff(wantKeys, slices.Sorted(maps.Keys(env))); diff != "" {
		t.Fatalf("printed settings (-want +got):\n%s", diff)
	}
	if env["FASTMCP_AUTH_CA_FILE"] != filepath.Join(dir, "ca.pem") || !strings.HasSuffix(env["FASTMCP_AUTH_AUTHORITY"], "/lab") {
		t.Errorf("settings: %v", env)
	}
	// The hint follows the settings on another stream: wait for it rather than race it.
	for !strings.Contains(stderr.String(), "/device") {
		if time.Now().After(deadline) {
			t.Fatalf("stderr has no hint: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Use the printed settings as login and serve would.
	pem, err := os.ReadFile(env["FASTMCP_AUTH_CA_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := client.PostForm(env["FASTMCP_AUTH_AUTHORITY"]+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {"daemon"}, "client_secret": {"env-secret"}, "scope": {"api://fastmcp-dev-api/.default"}})
	if err != nil {
		t.Fatalf("token request with the printed CA: %v", err)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || body["access_token"] == nil {
		t.Errorf("client credentials with the env secret: %d %v", resp.StatusCode, body["error"])
	}
	cancel()
	testenv.Returns(t, done, 10*time.Second, "the command after cancel")
}

// TestDevAuthorityCommandErrors: bad settings exit 2, a busy port exits 1, each naming what
// to change.
func TestDevAuthorityCommandErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	empty := testenv.WriteFile(t, t.TempDir(), "secret", "\n")
	// Each run gets a state directory of its own.
	da := func(args ...string) []string {
		return append([]string{"dev-authority", "--state-dir", t.TempDir()}, args...)
	}
	checkFailures(t, 10*time.Second, []failureCase{
		{name: "non-loopback", args: da("--addr", "0.0.0.0:8443"), code: ExitUsage, msg: "not loopback"},
		{name: "busy port", args: da("--addr", ln.Addr().String()), code: ExitFailure, msg: "--addr"},
		{name: "empty secret file", args: da("--addr", "127.0.0.1:0", "--client-secret-file", empty), code: ExitUsage, msg: "--client-secret-file"},
		{name: "missing secret file", args: da("--addr", "127.0.0.1:0", "--client-secret-file", empty+".none"), code: ExitUsage, msg: "--client-secret-file"},
		{name: "short lifetime", args: da("--addr", "127.0.0.1:0", "--token-lifetime", "10s"), code: ExitUsage, msg: "--token-lifetime"},
		{name: "reserved tenant", args: da("--addr", "127.0.0.1:0", "--tenant", "adfs"), code: ExitUsage, msg: "reserved"},
		{name: "secret as a flag value", args: da("--client-secret", "x"), code: ExitUsage, msg: "flag provided but not defined"},
		{name: "consent for a scope nobody exposes", args: da("--addr", "127.0.0.1:0", "--require-consent", "api://fastmcp-dev-api/wirte"), code: ExitUsage, msg: "--require-consent"},
	})
}
