package devauthority_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

const chromiumPath = "/usr/bin/chromium"

// screenshotPath is the page shown in the README.
var screenshotPath = filepath.Join("..", "docs", "device-page.png")

// requireChromium returns Debian's chromium, skipping the test when it is absent, except in
// CI where a missing browser must fail rather than silently skip the test (testenv.Missing).
func requireChromium(t *testing.T) string {
	t.Helper()
	return testenv.LookPath(t, "chromium not found at "+chromiumPath+": install it (apt-get install -y chromium)", chromiumPath, "chromium")
}

// TestBrowserDeviceApproval: headless Chromium opens /device, types the user code, approves,
// and the MSAL device flow waiting meanwhile completes with a valid token.
func TestBrowserDeviceApproval(t *testing.T) {
	t.Parallel()
	chromium := requireChromium(t)
	p := startDevice(t, devauthority.Config{}, 90*time.Second)
	a, ctx, dc, done := p.a, p.ctx, p.dc, p.done

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// The test profile does not trust the dev CA; the TLS itself is tested with Go clients.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(760, 640),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()

	var consent, resultText string
	var shot []byte
	err := chromedp.Run(bctx,
		chromedp.Navigate(dc.Result.VerificationURL),
		chromedp.WaitVisible("#user_code", chromedp.ByID),
		chromedp.SendKeys("#user_code", strings.ToLower(dc.Result.UserCode), chromedp.ByID),
		chromedp.Click("#continue", chromedp.ByID),
		chromedp.WaitVisible("#approve", chromedp.ByID),
		chromedp.Text("main", &consent, chromedp.ByQuery),
		chromedp.FullScreenshot(&shot, 100), // 100: PNG (lower qualities give JPEG),
		chromedp.Click("#approve", chromedp.ByID),
		chromedp.WaitVisible("#result", chromedp.ByID),
		chromedp.Text("#result", &resultText, chromedp.ByID),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	for _, want := range []string{testClient, "execute", "Dev User"} {
		if !strings.Contains(consent, want) {
			t.Errorf("consent page lacks %q:\n%s", want, consent)
		}
	}
	if !strings.Contains(resultText, "You have signed in") {
		t.Errorf("result = %q", resultText)
	}
	got := <-done
	if got.err != nil {
		t.Fatalf("device flow after browser approval: %v", got.err)
	}
	if tok := verify(t, a, got.res.AccessToken, nil); claim(tok, "scp") != "execute" {
		t.Errorf("scp = %v", claim(tok, "scp"))
	}
	if _, err := os.Stat(screenshotPath); os.Getenv("UPDATE_SCREENSHOTS") == "1" || os.IsNotExist(err) {
		if err := os.WriteFile(screenshotPath, shot, 0o644); err != nil {
			t.Errorf("could not save the screenshot: %v", err)
		}
	}
}
