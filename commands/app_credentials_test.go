package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestTokenClientCredentials: token with a client secret (file or environment) prints an
// app-only token for api://<api>/.default, writes no cache file, and a wrong secret is exit 3.
func TestTokenClientCredentials(t *testing.T) {
	const secret = "s3cret-for-the-test"
	da := testenv.DevAuthority(t, devauthority.Config{ClientSecret: secret})
	dir := t.TempDir()
	secretFile := testenv.WriteFile(t, dir, "secret", secret+"\n")
	wrongFile := testenv.WriteFile(t, dir, "wrong", "not-it")
	cacheFile := filepath.Join(dir, "cache", "token_cache.json")
	base := []string{"--authority", da.URL(), "--ca-file", da.CAFile(), "--client-id", "ci-app",
		"--api-client-id", devauthority.DefaultAPIClientID, "--cache-file", cacheFile}
	ctx := cliCtx(t)

	check := func(t *testing.T, out, errOut string, code int) {
		t.Helper()
		if code != 0 {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		id, err := auth.UnverifiedIdentity(strings.TrimSpace(out))
		if err != nil {
			t.Fatal(err)
		}
		if len(id.Roles) == 0 || len(id.Scopes) != 0 || id.ClientID != "ci-app" {
			t.Errorf("identity %+v: want an app-only token (roles, no scp) of ci-app", id)
		}
		if strings.Contains(errOut, secret) {
			t.Error("stderr holds the secret")
		}
		if _, err := os.Stat(filepath.Dir(cacheFile)); !os.IsNotExist(err) {
			t.Errorf("the client credentials token touched the cache directory (%v)", err)
		}
	}
	t.Run("secret file", func(t *testing.T) {
		out, errOut, code := runCLI(ctx, "token", append(base, "--client-secret-file", secretFile)...)
		check(t, out, errOut, code)
	})
	t.Run("secret in the environment", func(t *testing.T) {
		t.Setenv(envClientSecret, secret)
		out, errOut, code := runCLI(ctx, "token", base...)
		check(t, out, errOut, code)
	})
	t.Run("wrong secret", func(t *testing.T) {
		_, errOut, code := runCLI(ctx, "token", append(base, "--client-secret-file", wrongFile)...)
		if code != ExitAuth || !strings.Contains(errOut, "invalid_client") || strings.Contains(errOut, "not-it") {
			t.Errorf("exit %d, stderr %q; want 3 naming invalid_client, without the secret", code, errOut)
		}
	})
	t.Run("no client ID", func(t *testing.T) {
		_, errOut, code := runCLI(ctx, "token", "--authority", da.URL(), "--ca-file", da.CAFile(), "--client-secret-file", secretFile, "--api-client-id", "x")
		if code != ExitUsage || !strings.Contains(errOut, "--client-id") {
			t.Errorf("exit %d, stderr %q; want 2 naming --client-id", code, errOut)
		}
	})
}

// TestCallWithClientCredentials: call against a real serve with an app-only token from the
// client credentials grant: serve accepts it through roles, and no cache is written.
func TestCallWithClientCredentials(t *testing.T) {
	const secret = "another-test-secret"
	da := testenv.DevAuthority(t, devauthority.Config{ClientSecret: secret})
	srv := startServe(t, "--authority", da.URL(), "--ca-file", da.CAFile(), "--api-client-id", devauthority.DefaultAPIClientID)
	t.Setenv(envClientSecret, secret)
	cacheFile := filepath.Join(t.TempDir(), "c", "token_cache.json")
	out, errOut, code := runCLI(cliCtx(t), "call", "reverse_tool", "query=abc", "--server", srv.base+"/mcp",
		"--authority", da.URL(), "--ca-file", da.CAFile(), "--client-id", "ci-app",
		"--api-client-id", devauthority.DefaultAPIClientID, "--cache-file", cacheFile, "--progress", "none")
	if code != 0 || !strings.Contains(out, "cba") {
		t.Fatalf("call with client credentials: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Dir(cacheFile)); !os.IsNotExist(err) {
		t.Errorf("client credentials touched the cache directory (%v)", err)
	}
}
