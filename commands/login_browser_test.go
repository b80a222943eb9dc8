package commands

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

var (
	formActionRE = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	hiddenRE     = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)
	signInURLRE  = regexp.MustCompile(`https://\S+/oauth2/v2.0/authorize\?\S+`)
)

// playBrowser does what a browser does with the sign-in URL of an auto-approving development
// authority: load it, get the form_post page, and post its form to the loopback redirect.
func playBrowser(ctx context.Context, hc *http.Client, authURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	body := make([]byte, 64<<10)
	n, _ := resp.Body.Read(body)
	resp.Body.Close()
	page := string(body[:n])
	m := formActionRE.FindStringSubmatch(page)
	if m == nil {
		return fmt.Errorf("no form_post form in the authority's answer (%d): %.300s", resp.StatusCode, page)
	}
	form := url.Values{}
	for _, f := range hiddenRE.FindAllStringSubmatch(page, -1) {
		form.Set(html.UnescapeString(f[1]), html.UnescapeString(f[2]))
	}
	if form.Get("code") == "" {
		return fmt.Errorf("the form_post page carries no code: %.300s", page)
	}
	post, err := http.PostForm(html.UnescapeString(m[1]), form)
	if err != nil {
		return err
	}
	post.Body.Close()
	if post.StatusCode != http.StatusOK {
		return fmt.Errorf("the loopback redirect answered %d", post.StatusCode)
	}
	return nil
}

// fakeBrowser sets $BROWSER to a script that only records the URL it is given, and returns the
// file the URL appears in (whole: written aside, then renamed).
func fakeBrowser(t *testing.T) string {
	t.Helper()
	urlFile := filepath.Join(t.TempDir(), "url")
	script := filepath.Join(t.TempDir(), "browser.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s' \"$1\" > "+urlFile+".tmp && mv "+urlFile+".tmp "+urlFile+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BROWSER", script)
	return urlFile
}

// TestLoginBrowserWithBrowserVariable: login --browser runs $BROWSER with the sign-in URL (as
// git and gh do), the authorization code comes back to MSAL's loopback listener, the tokens
// are cached, and `token` then serves them. The $BROWSER script only records the URL; the
// test plays the browser.
func TestLoginBrowserWithBrowserVariable(t *testing.T) {
	env := newLoginEnv(t, time.Hour, true)
	ctx := cliCtx(t)
	urlFile := fakeBrowser(t)

	type result struct {
		out, errOut string
		code        int
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, code := runCLI(ctx, "login", append(env.args, "--browser")...)
		done <- result{out, errOut, code}
	}()
	var authURL string
	for authURL == "" {
		select {
		case r := <-done:
			t.Fatalf("login ended before the browser was used: exit %d, stderr %q", r.code, r.errOut)
		case <-time.After(20 * time.Millisecond):
		}
		if b, err := os.ReadFile(urlFile); err == nil {
			authURL = string(b)
		}
	}
	u, err := url.Parse(authURL)
	if err != nil || !strings.HasPrefix(authURL, env.da.URL()+"/oauth2/v2.0/authorize?") {
		t.Fatalf("$BROWSER got %q, want the authority's authorize URL", authURL)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || !strings.HasPrefix(q.Get("redirect_uri"), "http://localhost:") {
		t.Errorf("authorize URL lacks PKCE S256 or a loopback redirect: %v", q)
	}
	if err := playBrowser(ctx, env.da.HTTPClient(), authURL); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.code != 0 || r.out != "" || !strings.Contains(r.errOut, "signed in as ") {
		t.Fatalf("login --browser: exit %d, stdout %q, stderr %q", r.code, r.out, r.errOut)
	}
	out, errOut, code := runCLI(ctx, "token", env.args...)
	if code != 0 || strings.Count(strings.TrimSpace(out), ".") != 2 {
		t.Fatalf("token after the browser sign-in: exit %d, stderr %q", code, errOut)
	}
}

// TestLoginBrowserWithoutBrowser: with no $BROWSER and no opener on PATH, the URL is printed
// on stderr, and a sign-in done with it (here by the test) completes the login.
func TestLoginBrowserWithoutBrowser(t *testing.T) {
	env := newLoginEnv(t, time.Hour, true)
	ctx := cliCtx(t)
	t.Setenv("BROWSER", "")
	t.Setenv("PATH", t.TempDir())
	stderr := &testenv.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- NewApp(&strings.Builder{}, stderr).RunContext(ctx, append([]string{"fastmcp-auth", "login", "--browser"}, env.args...))
	}()
	var authURL string
	for authURL == "" {
		select {
		case err := <-done:
			t.Fatalf("login ended before the URL was used: %v; stderr %q", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		authURL = signInURLRE.FindString(stderr.String())
	}
	if !strings.Contains(stderr.String(), "No browser found") {
		t.Errorf("stderr %q: want the no-browser notice", stderr.String())
	}
	if err := playBrowser(ctx, env.da.HTTPClient(), authURL); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("login --browser: %v; stderr %q", err, stderr.String())
	}
}

// TestProxyBrowserFirstSignIn: proxy --browser, not signed in, with a terminal on stderr,
// signs in in the browser ($BROWSER) before relaying, and the sign-in is cached.
func TestProxyBrowserFirstSignIn(t *testing.T) {
	env := newLoginEnv(t, time.Hour, true)
	ctx := cliCtx(t)
	urlFile := fakeBrowser(t)
	stderr := &terminalBuffer{tty: true}
	app := NewApp(&strings.Builder{}, stderr)
	app.Reader = strings.NewReader("") // the host closes stdin at once: the proxy stops after signing in
	done := make(chan error, 1)
	go func() {
		done <- app.RunContext(ctx, append([]string{"fastmcp-auth", "proxy", "--browser", "--server", "http://127.0.0.1:1/mcp"}, env.args...))
	}()
	var authURL string
	for authURL == "" {
		select {
		case err := <-done:
			t.Fatalf("proxy ended before the browser was used: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if b, err := os.ReadFile(urlFile); err == nil {
			authURL = string(b)
		}
	}
	if err := playBrowser(ctx, env.da.HTTPClient(), authURL); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("proxy --browser: %v", err)
	}
	if _, errOut, code := runCLI(ctx, "token", env.args...); code != 0 {
		t.Fatalf("token after the proxy's browser sign-in: exit %d, stderr %q", code, errOut)
	}
}
