package devauthority_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv/chromiumtest"
)

// screenshotPath is the page shown in the README.
var screenshotPath = filepath.Join("..", "docs", "device-page.png")

// TestBrowserDeviceApproval: headless Chromium opens /device, types the user code, approves,
// and the MSAL device flow waiting meanwhile completes with a valid token.
func TestBrowserDeviceApproval(t *testing.T) {
	t.Parallel()
	chromiumtest.Path(t) // skip (or fail under CI) before starting the authority
	p := startDevice(t, devauthority.Config{}, 90*time.Second)
	a, dc, done := p.a, p.dc, p.done

	bctx := chromiumtest.New(t, 760, 640)

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
	if chromiumtest.WantScreenshot(screenshotPath) {
		if err := os.WriteFile(screenshotPath, shot, 0o644); err != nil {
			t.Errorf("could not save the screenshot: %v", err)
		}
	}
}
