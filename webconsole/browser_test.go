package webconsole_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv/chromiumtest"
	"github.com/fastmcp-auth/fastmcp-auth/mcpserver"
	"github.com/fastmcp-auth/fastmcp-auth/webconsole"
)

// testAPIClientID is the API the development authority issues tokens for.
const testAPIClientID = "fastmcp-console-test-api"

// consoleStack is a development authority (approval page on, no auto-approve) and a server
// running mcpserver.Handler with the real token verifier and the console mounted, as
// `serve --web` builds them.
type consoleStack struct {
	authority *devauthority.Authority
	baseURL   string // the console, http://127.0.0.1:port/
}

func newConsoleStack(t *testing.T, requiredScopes []string, now func() time.Time) *consoleStack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	da := testenv.DevAuthority(t, devauthority.Config{APIClientID: testAPIClientID, Now: now})
	ep, err := auth.Discover(ctx, da.HTTPClient(), da.URL())
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	verifier, err := auth.NewVerifier(ctx, auth.VerifierConfig{
		JWKSURI:    da.URL() + "/discovery/v2.0/keys",
		Issuers:    []string{ep.Issuer},
		Audiences:  []string{testAPIClientID, "api://" + testAPIClientID},
		HTTPClient: da.HTTPClient(),
	})
	if err != nil {
		t.Fatalf("auth.NewVerifier: %v", err)
	}
	t.Cleanup(verifier.Close)
	console, err := webconsole.New(ctx, webconsole.Config{
		Authority:  da.URL(),
		ClientID:   "fastmcp-console-test-spa",
		Scopes:     []string{"api://" + testAPIClientID + "/execute"},
		HTTPClient: da.HTTPClient(),
	})
	if err != nil {
		t.Fatalf("webconsole.New: %v", err)
	}
	srv := testenv.ServeSelf(t, func(base string) (http.Handler, error) {
		return mcpserver.Handler(mcpserver.Config{
			Verifier:             verifier.Verify,
			RequiredScopes:       requiredScopes,
			PublicURL:            base + "/mcp",
			AuthorizationServers: []string{ep.Issuer},
			ProgressInterval:     150 * time.Millisecond,
			Extra:                console.Register,
		})
	})
	return &consoleStack{authority: da, baseURL: srv.URL + "/"}
}

// newBrowser starts headless chromium (chromiumtest.New) and fails the test on a script
// exception or a Content-Security-Policy / Trusted Types refusal in its pages.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	bctx := chromiumtest.New(t, 1100, 900, chromedp.WithErrorf(t.Logf))
	// A script exception or a Content-Security-Policy / Trusted Types refusal means the page
	// is broken in a way the assertions might not see: fail on either.
	var mu sync.Mutex
	var problems []string
	chromedp.ListenTarget(bctx, func(ev any) {
		var p string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			p = "exception: " + ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				p += " " + ev.ExceptionDetails.Exception.Description
			}
		case *cdplog.EventEntryAdded:
			if strings.Contains(ev.Entry.Text, "Content Security Policy") || strings.Contains(ev.Entry.Text, "Trusted Type") {
				p = "console: " + ev.Entry.Text
			}
		}
		if p != "" {
			mu.Lock()
			problems = append(problems, p)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("browser reported %s", p)
		}
	})
	return bctx
}

// run runs browser actions, failing the test with what step broke.
func run(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var page string
		_ = chromedp.Run(ctx, chromedp.Evaluate(`location.href + "\n" + document.body.innerText`, &page))
		t.Fatalf("%s: %v\npage now:\n%s", step, err, page)
	}
}

// signIn opens the console, starts the sign-in and approves it on the authority's page.
func signIn(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	run(t, ctx, "open the console", chromedp.Navigate(base), chromedp.WaitVisible(`#sign-in`, chromedp.ByID))
	run(t, ctx, "click Sign in", chromedp.Click(`#sign-in`, chromedp.ByID))
	run(t, ctx, "approve on the authority's page", chromedp.WaitVisible(`#approve`, chromedp.ByID), chromedp.Click(`#approve`, chromedp.ByID))
	run(t, ctx, "come back signed in", chromedp.WaitVisible(`#token-panel`, chromedp.ByID))
}

// screenshot writes docs/<name> when UPDATE_SCREENSHOTS=1 or when the file is missing.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	path := filepath.Join("..", "docs", name)
	if !chromiumtest.WantScreenshot(path) {
		return
	}
	var png []byte
	run(t, ctx, "screenshot", chromedp.FullScreenshot(&png, 100))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(png))
}

func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	var s string
	run(t, ctx, "read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

// TestBrowserSignInAndCallTool drives the whole console in headless chromium: sign in
// through the authority's approval page (authorization code + PKCE), see the token's claims,
// list the tools, call reverse_tool and watch its progress reach 5 of 5, call POST /reverse,
// check the layout at 360 px, and sign out.
func TestBrowserSignInAndCallTool(t *testing.T) {
	st := newConsoleStack(t, []string{"execute"}, nil)
	ctx := newBrowser(t)
	signIn(t, ctx, st.baseURL)

	// The code is gone from the address bar and nothing is kept in web storage.
	var after struct {
		URL     string `json:"url"`
		Local   int    `json:"local"`
		Session int    `json:"session"`
	}
	run(t, ctx, "inspect storage", chromedp.Evaluate(`({url: location.href, local: localStorage.length, session: sessionStorage.length})`, &after))
	if after.URL != st.baseURL || after.Local != 0 || after.Session != 0 {
		t.Errorf("after sign-in: url %q, localStorage %d items, sessionStorage %d items; want %q, 0, 0", after.URL, after.Local, after.Session, st.baseURL)
	}

	if got := textOf(t, ctx, "#claim-audience"); !strings.Contains(got, testAPIClientID) {
		t.Errorf("audience shown %q, want it to name %s", got, testAPIClientID)
	}
	if got := textOf(t, ctx, "#claim-scopes"); !strings.Contains(got, "execute") {
		t.Errorf("scopes shown %q, want execute", got)
	}
	if got := textOf(t, ctx, "#claim-expiry"); !strings.Contains(got, "min)") {
		t.Errorf("expiry shown %q, want a time with minutes left", got)
	}
	if got := textOf(t, ctx, "#account-name"); !strings.HasPrefix(got, "Signed in as ") {
		t.Errorf("account shown %q", got)
	}

	// The tools are listed once signed in, each with a form built from its input schema.
	tool := `article[data-tool="reverse_tool"]`
	run(t, ctx, "list tools", chromedp.WaitVisible(tool+` input[name="query"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`article[data-tool="random_number_tool"] input[name="min"][type="number"]`, chromedp.ByQuery))

	run(t, ctx, "fill and submit reverse_tool",
		chromedp.SendKeys(tool+` input[name="query"]`, "Hello, console!", chromedp.ByQuery),
		chromedp.Click(tool+` button.call`, chromedp.ByQuery))

	// Watch the progress bar live: it must climb to 5 of 5, through intermediate values.
	type progressState struct {
		Value   float64 `json:"value"`
		Max     float64 `json:"max"`
		Text    string  `json:"text"`
		Done    bool    `json:"done"`
		Indeter bool    `json:"indeterminate"`
	}
	seen := map[float64]bool{}
	var last progressState
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		run(t, ctx, "read progress", chromedp.Evaluate(`(() => {
			const a = document.querySelector('article[data-tool="reverse_tool"]');
			const bar = a.querySelector('progress');
			return {value: bar.value, max: bar.max, indeterminate: !bar.hasAttribute('value'),
				text: a.querySelector('.progress-text').textContent, done: !a.querySelector('.outcome').hidden};
		})()`, &last))
		if !last.Indeter {
			seen[last.Value] = true
		}
		if last.Done {
			break
		}
		time.Sleep(40 * time.Millisecond)
	}
	if !last.Done {
		t.Fatalf("the call did not finish; last progress %+v", last)
	}
	if last.Value != 5 || last.Max != 5 || !strings.HasPrefix(last.Text, "5 of 5") {
		t.Errorf("final progress %+v, want value 5, max 5, text starting \"5 of 5\"", last)
	}
	if len(seen) < 3 {
		t.Errorf("progress values seen while running %v: want at least 3 distinct steps (live updates)", seen)
	}

	var result map[string]string
	if err := json.Unmarshal([]byte(textOf(t, ctx, tool+" .result")), &result); err != nil {
		t.Fatalf("result is not JSON: %v", err)
	}
	if got, want := result["reversed_query"], "!elosnoc ,olleH"; got != want {
		t.Errorf("reversed_query = %q, want %q", got, want)
	}
	if got := textOf(t, ctx, tool+" .outcome-title"); got != "Result" {
		t.Errorf("outcome title %q, want Result", got)
	}

	// A tool error (min > max) is shown as such, from the form built for integers.
	rnd := `article[data-tool="random_number_tool"]`
	run(t, ctx, "call random_number_tool with min > max",
		chromedp.SendKeys(rnd+` input[name="min"]`, "5", chromedp.ByQuery),
		chromedp.SendKeys(rnd+` input[name="max"]`, "1", chromedp.ByQuery),
		chromedp.Click(rnd+` button.call`, chromedp.ByQuery),
		chromedp.WaitVisible(rnd+` .outcome.error`, chromedp.ByQuery))
	if got := textOf(t, ctx, rnd+" .outcome-title"); got != "The tool reported an error" {
		t.Errorf("tool error title %q", got)
	}
	if got := textOf(t, ctx, rnd+" .result"); !strings.Contains(got, "min") {
		t.Errorf("tool error text %q does not mention min", got)
	}

	// The REST endpoint, with the same token.
	run(t, ctx, "call POST /reverse",
		chromedp.SendKeys(`#rest-input`, "abc", chromedp.ByID),
		chromedp.Click(`#rest-form button[type="submit"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#rest-result`, chromedp.ByID))
	if got := textOf(t, ctx, "#rest-result"); !strings.Contains(got, `"reversed": "cba"`) {
		t.Errorf("REST result %q, want reversed cba", got)
	}

	screenshot(t, ctx, "web-console.png")

	// At 360 px wide nothing overflows sideways.
	var widths struct {
		Scroll int `json:"scroll"`
		Client int `json:"client"`
	}
	run(t, ctx, "narrow layout", chromedp.EmulateViewport(360, 740),
		chromedp.Sleep(100*time.Millisecond),
		chromedp.Evaluate(`({scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth})`, &widths))
	if widths.Client > 360 || widths.Scroll > widths.Client {
		t.Errorf("at 360 px: scrollWidth %d, clientWidth %d; want no horizontal overflow", widths.Scroll, widths.Client)
	}

	// Sign-out forgets the token.
	run(t, ctx, "sign out", chromedp.EmulateViewport(1100, 900), chromedp.Click(`#sign-out`, chromedp.ByID),
		chromedp.WaitVisible(`#sign-in`, chromedp.ByID), chromedp.WaitNotVisible(`#token-panel`, chromedp.ByID))
	if got := textOf(t, ctx, "#account-name"); got != "Not signed in" {
		t.Errorf("after sign-out the account reads %q", got)
	}
}

// alertAfterSignIn opens the console of st in a new browser and signs in, then waits for the
// alert the server's refusal brings: its title must be wantTitle and its text must contain
// each of wantText. It returns the browser and the alert's text.
func alertAfterSignIn(t *testing.T, st *consoleStack, wantTitle string, wantText ...string) (context.Context, string) {
	t.Helper()
	ctx := newBrowser(t)
	signIn(t, ctx, st.baseURL)
	run(t, ctx, "see the explanation", chromedp.WaitVisible(`#alert`, chromedp.ByID))
	if got := textOf(t, ctx, "#alert-title"); got != wantTitle {
		t.Errorf("alert title %q, want %q", got, wantTitle)
	}
	text := textOf(t, ctx, "#alert-text")
	for _, want := range wantText {
		if !strings.Contains(text, want) {
			t.Errorf("alert text %q lacks %q", text, want)
		}
	}
	return ctx, text
}

// TestBrowserInsufficientScope signs in for "execute" against a server that also requires
// "admin": the console explains the 403, naming the missing scope.
func TestBrowserInsufficientScope(t *testing.T) {
	st := newConsoleStack(t, []string{"execute", "admin"}, nil)
	ctx, text := alertAfterSignIn(t, st, "Missing permission (403)", `lacks the scope "admin"`, "Your token has: execute", "sign in again")
	if strings.Contains(text, `"execute"`) {
		t.Errorf("alert text %q names a scope the token has as missing", text)
	}
	var signInAgain bool
	run(t, ctx, "sign-in button", chromedp.Evaluate(`!document.getElementById('alert-sign-in').hidden`, &signInAgain))
	if !signInAgain {
		t.Error("the 403 explanation offers no Sign in again button")
	}
	screenshot(t, ctx, "web-console-403.png")
}

// TestBrowserExpiredToken signs in at an authority whose clock runs two hours late, so the
// token it issues expired an hour ago: the console shows it as expired and explains the
// server's 401 with the reason and a Sign in again button.
func TestBrowserExpiredToken(t *testing.T) {
	st := newConsoleStack(t, []string{"execute"}, func() time.Time { return time.Now().Add(-2 * time.Hour) })
	ctx, _ := alertAfterSignIn(t, st, "Your sign-in was not accepted (401)", "expired", "Sign in again")
	if got := textOf(t, ctx, "#claim-expiry"); !strings.Contains(got, "expired: sign in again") {
		t.Errorf("expiry shown %q, want it marked expired", got)
	}
	// Sign in again starts a new authorization request at the authority.
	run(t, ctx, "sign in again", chromedp.Click(`#alert-sign-in`, chromedp.ByID), chromedp.WaitVisible(`#approve`, chromedp.ByID))
}
