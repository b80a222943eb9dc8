// Package chromiumtest starts the headless Chromium that the browser tests drive through
// chromedp: the web console, the browser sign-in and the device page. It is a package of its
// own, not part of testenv, so that only the tests that drive a browser compile chromedp.
package chromiumtest

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// Timeout bounds a browser test from the start of its browser: a hung page fails the test
// rather than stalling the run.
const Timeout = 90 * time.Second

// Path returns Debian's chromium. Missing, a browser test fails under CI (where
// scripts/test.sh installs it) and is skipped elsewhere (testenv.Missing).
func Path(t testing.TB) string {
	t.Helper()
	return testenv.LookPath(t, "chromium is not installed: apt-get install chromium (the browser tests need it under CI)",
		"chromium", "chromium-browser", "/usr/bin/chromium")
}

// New starts headless Chromium with a throw-away profile and returns its context, which ends
// after Timeout and is cancelled (closing the browser) when the test ends. width and height
// set the window; 0 keeps Chromium's default. opts go to chromedp.NewContext (a test may
// want chromedp.WithErrorf(t.Logf), for one). A browser that does not start fails the test.
func New(t testing.TB, width, height int, opts ...chromedp.ContextOption) context.Context {
	t.Helper()
	allocOpts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Path(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		// Chromium's sandbox refuses to run as root, and the tests run as root in the container;
		// the browser only visits the test's own loopback servers.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// The container's /dev/shm is small; a full one crashes tabs.
		chromedp.Flag("disable-dev-shm-usage", true),
		// Nothing but the test's own pages: no updates, sync or background fetches.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// The development authority's certificate comes from its own CA, which the throw-away
		// profile does not trust; the TLS itself is tested with Go clients.
		chromedp.Flag("ignore-certificate-errors", true),
	}
	if width > 0 && height > 0 {
		allocOpts = append(allocOpts, chromedp.WindowSize(width, height))
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, allocOpts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx, opts...)
	t.Cleanup(bcancel)
	if err := chromedp.Run(bctx); err != nil { // no actions: start the browser
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// WantScreenshot reports whether a test should write the screenshot at path (one of docs/'s
// pictures): when the file is missing, or when UPDATE_SCREENSHOTS=1 asks to refresh it.
func WantScreenshot(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, fs.ErrNotExist) || os.Getenv("UPDATE_SCREENSHOTS") == "1"
}
