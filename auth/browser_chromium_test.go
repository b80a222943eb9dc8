package auth_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv/chromiumtest"
)

// TestBrowserSignInInChromium runs Login.Browser end to end in headless Chromium against the
// development authority with its consent page: MSAL opens the authorize URL (PKCE S256,
// response_mode=form_post, loopback redirect), the person approves or declines, the form_post
// page posts the code to MSAL's listener, and the code is redeemed.
func TestBrowserSignInInChromium(t *testing.T) {
	chromiumtest.Path(t) // before the subtests: a missing browser skips (or fails) once
	for _, tc := range []struct {
		name    string
		button  string
		wantErr error
	}{
		{"approved", "#approve", nil},
		{"declined", "#decline", auth.ErrLoginDeclined},
	} {
		t.Run(tc.name, func(t *testing.T) {
			da := testenv.DevAuthority(t, devauthority.Config{})
			ctx := chromiumtest.New(t, 0, 0) // its deadline bounds the sign-in too
			browserErr := make(chan error, 1)
			l, err := auth.NewLogin(auth.LoginConfig{
				Authority:  da.URL(),
				ClientID:   "chromium-test-client",
				Scopes:     []string{"api://" + devauthority.DefaultAPIClientID + "/execute"},
				CacheFile:  filepath.Join(t.TempDir(), "cache.json"),
				HTTPClient: da.HTTPClient(),
				OpenURL: func(u string) error {
					go func() {
						browserErr <- chromedp.Run(ctx, chromedp.Navigate(u),
							chromedp.WaitVisible(tc.button, chromedp.ByQuery), chromedp.Click(tc.button, chromedp.ByQuery),
							chromedp.WaitVisible(`body`, chromedp.ByQuery))
					}()
					return nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := l.Browser(ctx)
			if berr := <-browserErr; berr != nil {
				t.Fatalf("browser: %v", berr)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Browser: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Browser: %v", err)
			}
			id, err := auth.UnverifiedIdentity(tok.AccessToken)
			if err != nil || len(id.Scopes) != 1 || id.Scopes[0] != "execute" {
				t.Fatalf("token identity %+v, %v: want scope execute", id, err)
			}
			// The sign-in is cached: a silent call serves it.
			if _, err := l.Silent(ctx); err != nil {
				t.Fatalf("Silent after the browser sign-in: %v", err)
			}
		})
	}
}
