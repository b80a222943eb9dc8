package reliability

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// cliResult is what one run of the binary gave.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runBin runs the binary with args to completion (at most a minute).
func runBin(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	ctx := testCtx(t, time.Minute)
	cmd := exec.CommandContext(ctx, testenv.Binary(t), args...)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return cliResult{out.String(), errb.String(), exitCode(err)}
}

// authorityEnv is a running development authority and the login flags pointing at it.
type authorityEnv struct {
	da        *devauthority.Authority
	cacheFile string
}

func newAuthority(t *testing.T, autoApprove bool, lifetime time.Duration, cacheDir string) *authorityEnv {
	t.Helper()
	da := testenv.DevAuthority(t, devauthority.Config{AutoApprove: autoApprove, TokenLifetime: lifetime})
	if cacheDir == "" {
		cacheDir = t.TempDir()
	}
	return &authorityEnv{da: da, cacheFile: filepath.Join(cacheDir, "fastmcp-auth", "token_cache.json")}
}

// args are the login settings plus extra.
func (e *authorityEnv) args(cmd string, extra ...string) []string {
	return append([]string{cmd, "--authority", e.da.URL(), "--ca-file", e.da.CAFile(), "--client-id", "reliability-client",
		"--api-client-id", devauthority.DefaultAPIClientID, "--cache-file", e.cacheFile}, extra...)
}

// login signs in (auto-approved) and returns the cache bytes.
func (e *authorityEnv) login(t *testing.T) []byte {
	t.Helper()
	r := runBin(t, "", e.args("login")...)
	if r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	b, err := os.ReadFile(e.cacheFile)
	if err != nil || len(b) == 0 {
		t.Fatalf("no cache after login: %v", err)
	}
	return b
}

// checkCacheUnharmed compares the cache file with before, and looks for temporary files left
// beside it.
func checkCacheUnharmed(t *testing.T, cacheFile string, before []byte) {
	t.Helper()
	after, err := os.ReadFile(cacheFile)
	if err != nil || !bytes.Equal(after, before) {
		t.Errorf("the token cache changed (%d bytes before, %d after, %v)", len(before), len(after), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(cacheFile))
	for _, e := range entries {
		// ".plain" is the marker of the one-time notice that the cache rests in plain text
		// (--cache-store auto without an OS store), written by the first successful sign-in.
		if e.Name() != filepath.Base(cacheFile) && !strings.HasSuffix(e.Name(), ".lock") && !strings.HasSuffix(e.Name(), ".plain") {
			t.Errorf("left behind beside the cache: %s", e.Name())
		}
	}
}

// checkError wants exit code and a last stderr line "error: ..." containing each of words,
// never a token.
func checkError(t *testing.T, what string, r cliResult, code int, words ...string) {
	t.Helper()
	last := lastLine(r.stderr)
	report(t, "cli-error", map[string]any{"case": what, "exit": r.code, "error": last})
	if r.code != code || !strings.HasPrefix(last, "error: ") {
		t.Errorf("%s: exit %d, last line %q; want exit %d and an error line", what, r.code, last, code)
	}
	for _, w := range words {
		if !strings.Contains(strings.ToLower(last), strings.ToLower(w)) {
			t.Errorf("%s: error %q does not mention %q", what, last, w)
		}
	}
	if strings.Contains(r.stderr, "eyJ") || r.stdout != "" {
		t.Errorf("%s: a token may have leaked, or stdout is not empty: stdout %q, stderr %q", what, r.stdout, r.stderr)
	}
}

// TestAuthorityDown stops the authority before a login, in the middle of a device flow, and
// before a refresh: each time a one-line error naming the authority, exit 4, and the token
// cache byte for byte as it was.
func TestAuthorityDown(t *testing.T) {
	t.Run("before login", func(t *testing.T) {
		e := newAuthority(t, true, time.Hour, "")
		before := e.login(t)
		_ = testenv.StopAuthority(e.da)
		r := runBin(t, "", e.args("login", "--force")...)
		checkError(t, "login, authority down", r, 4, "127.0.0.1")
		checkCacheUnharmed(t, e.cacheFile, before)
	})

	t.Run("during the device flow", func(t *testing.T) {
		e := newAuthority(t, false, time.Hour, "") // nobody approves: the CLI keeps polling
		ctx := testCtx(t, time.Minute)
		cmd := exec.CommandContext(ctx, testenv.Binary(t), e.args("login")...)
		cmd.Env = cleanEnv()
		stderr := &testenv.SyncBuffer{}
		var stdout bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the device code prompt", 20*time.Second, func() bool { return strings.Contains(stderr.String(), "/device") })
		_ = testenv.StopAuthority(e.da)
		start := time.Now()
		err := cmd.Wait()
		report(t, "login-authority-down-mid-flow", map[string]any{"seconds_to_exit_after_stop": round(time.Since(start).Seconds())})
		checkError(t, "login, authority gone while polling", cliResult{stdout.String(), stderr.String(), exitCode(err)}, 4, "127.0.0.1")
		if b, err := os.ReadFile(e.cacheFile); err == nil && bytes.Contains(b, []byte(`"AccessToken":{"`)) {
			t.Errorf("a failed login wrote an access token to the cache")
		}
	})

	t.Run("during a refresh", func(t *testing.T) {
		// MSAL treats a token as expired five minutes early: a 4-minute token makes every
		// `token` refresh.
		e := newAuthority(t, true, 4*time.Minute, "")
		e.login(t)
		if r := runBin(t, "", e.args("token")...); r.code != 0 || !strings.HasPrefix(r.stdout, "eyJ") {
			t.Fatalf("token with the authority up: exit %d, %s", r.code, r.stderr)
		}
		before, _ := os.ReadFile(e.cacheFile)
		_ = testenv.StopAuthority(e.da)
		r := runBin(t, "", e.args("token")...)
		checkError(t, "token refresh, authority down", r, 4, "127.0.0.1")
		checkCacheUnharmed(t, e.cacheFile, before)
	})
}

// mountTmpfs mounts a tmpfs of size on a new directory, or skips when that is not possible
// (not root, no mount permission in this sandbox); under CI it fails instead (testenv.Missing),
// as the other tests needing something from the machine do. It is unmounted at cleanup.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("cannot mount a tmpfs (%v: %s): run the test as root with mount permission", err, strings.TrimSpace(string(out))))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestCacheWriteFailure signs in, then makes the cache directory read-only (a read-only
// remount: root ignores file modes) or fills its disk, and signs in again with --force: a
// clear error, and the previous cache byte for byte intact.
func TestCacheWriteFailure(t *testing.T) {
	t.Run("read-only cache directory", func(t *testing.T) {
		mnt := mountTmpfs(t, "1m")
		e := newAuthority(t, true, time.Hour, mnt)
		before := e.login(t)
		if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
			testenv.Missing(t, fmt.Sprintf("cannot remount the tmpfs read-only: %v: %s", err, out))
		}
		r := runBin(t, "", e.args("login", "--force")...)
		checkError(t, "login, read-only cache directory", r, r.code, "cache", "read-only")
		if r.code == 0 {
			t.Errorf("login succeeded although the cache could not be written")
		}
		checkCacheUnharmed(t, e.cacheFile, before)
	})

	t.Run("disk full", func(t *testing.T) {
		mnt := mountTmpfs(t, "256k")
		e := newAuthority(t, true, time.Hour, mnt)
		before := e.login(t)
		// Fill what is left of the file system.
		f, err := os.Create(filepath.Join(mnt, "filler"))
		if err != nil {
			t.Fatal(err)
		}
		chunk := make([]byte, 4096)
		for {
			if _, err := f.Write(chunk); err != nil {
				break
			}
		}
		_ = f.Close()
		r := runBin(t, "", e.args("login", "--force")...)
		checkError(t, "login, disk full", r, r.code, "cache", "no space", "free some disk space")
		if r.code == 0 {
			t.Errorf("login succeeded although the cache could not be written")
		}
		checkCacheUnharmed(t, e.cacheFile, before)
	})
}
