package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// The tests of this file are deliberately not parallel: urfave/cli v2 writes to its global
// cli.HelpFlag while parsing, so two Apps running at once race (go test -race reports it).
// Sequential top-level tests never overlap with parallel ones.

// loginEnv is a development authority plus the flags that point the login commands at it.
type loginEnv struct {
	da        *devauthority.Authority
	cacheFile string
	args      []string // --authority ... --cache-file ...
}

func newLoginEnv(t *testing.T, lifetime time.Duration, autoApprove bool) *loginEnv {
	t.Helper()
	da := testenv.DevAuthority(t, devauthority.Config{AutoApprove: autoApprove, TokenLifetime: lifetime})
	cacheFile := filepath.Join(t.TempDir(), "fastmcp-auth", "token_cache.json")
	return &loginEnv{da: da, cacheFile: cacheFile, args: []string{
		"--authority", da.URL(), "--ca-file", da.CAFile(), "--client-id", "test-client",
		"--api-client-id", devauthority.DefaultAPIClientID, "--cache-file", cacheFile,
	}}
}

// runCLI runs one command through NewApp with buffers and returns stdout, stderr (with the
// "error:" line Run would print) and the exit code.
func runCLI(ctx context.Context, cmd string, args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	err := NewApp(&out, &errb).RunContext(ctx, append([]string{"fastmcp-auth", cmd}, args...))
	if err != nil {
		fmt.Fprintf(&errb, "error: %v\n", err)
	}
	return out.String(), errb.String(), ExitCode(err)
}

// cliCtx is the context of one test's command runs (testenv.Context, 60s).
func cliCtx(t *testing.T) context.Context { return testenv.Context(t, 60*time.Second) }

func TestLoginTokenWhoamiLogoutFlow(t *testing.T) {
	env := newLoginEnv(t, time.Hour, true)
	ctx := cliCtx(t)

	out, errOut, code := runCLI(ctx, "login", env.args...)
	if code != 0 || out != "" {
		t.Fatalf("login: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "signed in as ") || !strings.Contains(last, "valid until") {
		t.Errorf("login's last stderr line %q: want the account and expiry", last)
	}
	if !strings.Contains(errOut, "/device") {
		t.Errorf("login stderr %q: want the device-code prompt", errOut)
	}

	out, errOut, code = runCLI(ctx, "token", env.args...)
	if code != 0 || errOut != "" {
		t.Fatalf("token: exit %d, stderr %q", code, errOut)
	}
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") || strings.Count(out, ".") != 2 {
		t.Fatalf("token stdout is not exactly one JWT line: %d bytes", len(out))
	}
	token := strings.TrimSpace(out)

	out, errOut, code = runCLI(ctx, "whoami", append(env.args, "--json")...)
	if code != 0 {
		t.Fatalf("whoami --json: exit %d, stderr %q", code, errOut)
	}
	if strings.Contains(out, token) {
		t.Fatal("whoami printed the token")
	}
	var who struct {
		Account   string    `json:"account"`
		Audience  []string  `json:"audience"`
		Scopes    []string  `json:"scopes"`
		Verified  bool      `json:"verified"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(out), &who); err != nil {
		t.Fatalf("whoami --json: %v\n%s", err, out)
	}
	if who.Account == "" || who.Verified || time.Until(who.ExpiresAt) < 50*time.Minute {
		t.Errorf("whoami: %+v", who)
	}
	if d := cmp.Diff([]string{"execute"}, who.Scopes); d != "" {
		t.Errorf("whoami scopes (-want +got):\n%s", d)
	}
	if len(who.Audience) == 0 || !strings.Contains(who.Audience[0], devauthority.DefaultAPIClientID) {
		t.Errorf("whoami audience %v", who.Audience)
	}
	out, _, code = runCLI(ctx, "whoami", env.args...)
	if code != 0 || !strings.Contains(out, "unverified") || !strings.Contains(out, who.Account) || strings.Contains(out, token) {
		t.Errorf("whoami text: exit %d\n%s", code, out)
	}

	_, errOut, code = runCLI(ctx, "login", env.args...)
	if code != 0 || !strings.HasPrefix(errOut, "already signed in as ") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("second login: exit %d, stderr %q; want one 'already signed in' line", code, errOut)
	}
	assertCacheModes(t, env.cacheFile)

	out, errOut, code = runCLI(ctx, "logout", env.args...)
	if code != 0 || out != "" || !strings.Contains(errOut, "signed out "+who.Account) {
		t.Errorf("logout: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runCLI(ctx, "token", env.args...)
	if code != ExitAuth || out != "" || !strings.Contains(errOut, "error: not signed in: run fastmcp-auth login") {
		t.Errorf("token after logout: exit %d, stdout %q, stderr %q; want exit 3", code, out, errOut)
	}
	_, errOut, code = runCLI(ctx, "logout", env.args...)
	if code != 0 || !strings.Contains(errOut, "nothing to remove") {
		t.Errorf("second logout: exit %d, stderr %q", code, errOut)
	}
}

func assertCacheModes(t *testing.T, cacheFile string) {
	t.Helper()
	for path, want := range map[string]os.FileMode{cacheFile: 0o600, filepath.Dir(cacheFile): 0o700 | os.ModeDir} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
	}
}

// cachedSecrets reads the access and refresh token secrets from the MSAL cache file.
func cachedSecrets(t *testing.T, cacheFile string) (at, rt []string) {
	t.Helper()
	data, err := os.ReadFile(cacheFile)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AccessToken, RefreshToken map[string]struct {
			Secret string `json:"secret"`
		}
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	for _, v := range c.AccessToken {
		at = append(at, v.Secret)
	}
	for _, v := range c.RefreshToken {
		rt = append(rt, v.Secret)
	}
	return at, rt
}

func TestTokenRefreshesSilently(t *testing.T) {
	// A lifetime under MSAL's 5-minute margin: the access token is never cached, so every
	// `token` must redeem the refresh token, which the authority rotates.
	env := newLoginEnv(t, 2*time.Minute, true)
	ctx := cliCtx(t)
	if _, errOut, code := runCLI(ctx, "login", env.args...); code != 0 {
		t.Fatalf("login: %d %s", code, errOut)
	}
	ats, rts := cachedSecrets(t, env.cacheFile)
	if len(ats) != 0 || len(rts) != 1 {
		t.Fatalf("after login: %d access tokens, %d refresh tokens cached; want 0 and 1", len(ats), len(rts))
	}
	prevRT, seen := rts[0], map[string]bool{}
	for i := range 2 {
		out, errOut, code := runCLI(ctx, "token", env.args...)
		if code != 0 {
			t.Fatalf("token #%d: exit %d %s", i, code, errOut)
		}
		if seen[out] {
			t.Errorf("token #%d repeated a previous access token", i)
		}
		seen[out] = true
		_, rts = cachedSecrets(t, env.cacheFile)
		if len(rts) != 1 || rts[0] == prevRT {
			t.Errorf("token #%d: the refresh token was not redeemed and rotated", i)
		}
		prevRT = rts[0]
	}
}

// clientTokenApp is a one-command app that prints the first token of clientTokens, as tools
// and call use it.
func clientTokenApp(stderr *terminalBuffer, got *string) *cli.App {
	return &cli.App{
		Name:      "t",
		ErrWriter: stderr,
		Flags:     flagsOf(sharedFlags(), loginFlags(), clientFlags()),
		Action: func(c *cli.Context) error {
			tokens, err := clientTokens(c.Context, c, stderr)
			if err != nil || tokens == nil {
				return err
			}
			*got, err = tokens.Token(c.Context)
			return err
		},
	}
}

// terminalBuffer is stderr that claims to be (or not to be) a terminal.
type terminalBuffer struct {
	bytes.Buffer
	tty bool
}

func (b *terminalBuffer) IsTerminal() bool { return b.tty }

func TestClientAccessToken(t *testing.T) {
	env := newLoginEnv(t, 2*time.Minute, true)
	ctx := cliCtx(t)
	run := func(tty bool, extra ...string) (string, string, int) {
		stderr := &terminalBuffer{tty: tty}
		var got string
		err := clientTokenApp(stderr, &got).RunContext(ctx, append(append([]string{"t"}, env.args...), extra...))
		return got, stderr.String(), ExitCode(err)
	}
	tests := []struct {
		name     string
		tty      bool
		extra    []string
		wantCode int
		wantTok  string // "jwt" for any JWT
	}{
		{"no-auth", false, []string{"--no-auth"}, 0, ""},
		{"explicit token", false, []string{"--token", "abc"}, 0, "abc"},
		{"not signed in, no terminal", false, nil, ExitAuth, ""},
		{"not signed in, terminal: device flow", true, nil, 0, "jwt"},
		{"signed in, refreshed silently", false, nil, 0, "jwt"},
	}
	for _, tt := range tests { // in order: the device flow case signs in for the next
		got, errOut, code := run(tt.tty, tt.extra...)
		if code != tt.wantCode {
			t.Fatalf("%s: exit %d, want %d (stderr %q)", tt.name, code, tt.wantCode, errOut)
		}
		if tt.wantTok == "jwt" && strings.Count(got, ".") != 2 || tt.wantTok != "jwt" && got != tt.wantTok {
			t.Errorf("%s: token %q", tt.name, got)
		}
		if tt.tty != strings.Contains(errOut, "/device") {
			t.Errorf("%s: device prompt shown = %v, want %v", tt.name, !tt.tty, tt.tty)
		}
	}

	// A revoked refresh token without a terminal: exit 3 at once, no prompt.
	env.da.RevokeRefreshTokens()
	start := time.Now()
	_, errOut, code := run(false)
	if code != ExitAuth || strings.Contains(errOut, "/device") || time.Since(start) > 5*time.Second {
		t.Errorf("revoked, no terminal: exit %d after %v, stderr %q", code, time.Since(start), errOut)
	}
	out, errOut, code := runCLI(ctx, "token", env.args...)
	if code != ExitAuth || out != "" || !strings.Contains(errOut, "not signed in: run fastmcp-auth login") || !strings.Contains(errOut, "revoked") {
		t.Errorf("token with a revoked refresh token: exit %d, stderr %q", code, errOut)
	}
}

func TestLoginCommandErrors(t *testing.T) {
	env := newLoginEnv(t, time.Hour, true)
	deadAuthority := "https://" + testenv.FreeAddr(t) + "/dev"
	cache := filepath.Join(t.TempDir(), "c.json")
	tests := []struct {
		name     string
		cmd      string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no client id", "login", []string{"--authority", env.da.URL(), "--api-client-id", "x", "--cache-file", cache}, ExitUsage, "--client-id is required"},
		// token and whoami only read the cache: without the settings no sign-in can exist, so
		// they answer CLI.md's "not signed in" (exit 3), naming the missing setting.
		{"no scope", "token", []string{"--authority", env.da.URL(), "--client-id", "c", "--cache-file", cache}, ExitAuth, "not signed in: run fastmcp-auth login (--api-client-id (or --app-id-uri) is required"},
		{"no authority", "whoami", []string{"--client-id", "c", "--api-client-id", "x", "--cache-file", cache}, ExitAuth, "not signed in: run fastmcp-auth login (no authority"},
		{"no client id, token", "token", []string{"--authority", env.da.URL(), "--api-client-id", "x", "--cache-file", cache}, ExitAuth, "not signed in: run fastmcp-auth login (--client-id is required"},
		{"bad ca file", "login", append(env.args, "--ca-file", "/nonexistent/ca.pem"), ExitUsage, "--ca-file"},
		{"unreachable", "login", []string{"--authority", deadAuthority, "--client-id", "c", "--api-client-id", "x", "--cache-file", cache}, ExitUnreachable, "could not reach the authority " + deadAuthority},
		{"untrusted CA", "login", []string{"--authority", env.da.URL(), "--client-id", "c", "--api-client-id", "x", "--cache-file", cache}, ExitUnreachable, "--ca-file"},
		{"token never prompts", "token", env.args, ExitAuth, "error: not signed in: run fastmcp-auth login"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(cliCtx(t), tt.cmd, tt.args...)
			if code != tt.wantCode || !strings.Contains(errOut, tt.wantErr) || out != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errOut, tt.wantCode, tt.wantErr)
			}
			if strings.Contains(errOut, "/device") {
				t.Errorf("a device prompt was shown: %q", errOut)
			}
		})
	}
}

func TestLoginInterrupted(t *testing.T) {
	env := newLoginEnv(t, time.Hour, false) // nobody approves: login waits
	ctx, cancel := context.WithCancel(cliCtx(t))
	time.AfterFunc(500*time.Millisecond, cancel)
	var out, errb bytes.Buffer
	start := time.Now()
	code := Run(ctx, append([]string{"fastmcp-auth", "login"}, env.args...), &out, &errb)
	if code != ExitInterrupted || out.Len() != 0 || !strings.Contains(errb.String(), "error: interrupted") {
		t.Errorf("login interrupted: exit %d, stdout %q, stderr %q; want 130", code, out.String(), errb.String())
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("login took %v to stop after Ctrl-C", d)
	}
}

func TestDamagedCacheAtTheCommandLine(t *testing.T) {
	env := newLoginEnv(t, time.Hour, true)
	ctx := cliCtx(t)
	if err := os.MkdirAll(filepath.Dir(env.cacheFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(env.cacheFile, []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(ctx, "token", env.args...)
	aside, _ := filepath.Glob(env.cacheFile + ".corrupt-*")
	if code != ExitAuth || len(aside) != 1 || !strings.Contains(errOut, aside[0]) {
		t.Fatalf("token on a damaged cache: exit %d, moved aside %v, stderr %q", code, aside, errOut)
	}
	if _, errOut, code := runCLI(ctx, "login", env.args...); code != 0 {
		t.Fatalf("login after a damaged cache: %d %s", code, errOut)
	}
	if _, _, code := runCLI(ctx, "token", env.args...); code != 0 {
		t.Fatalf("token after re-login: exit %d", code)
	}
}
