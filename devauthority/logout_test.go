package devauthority_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestLogoutRedirectsOnlyToLoopback: the sign-out endpoint must not be an open redirector.
func TestLogoutRedirectsOnlyToLoopback(t *testing.T) {
	a := testenv.DevAuthority(t, devauthority.Config{})
	client := a.HTTPClient()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	u, _ := url.Parse(a.URL())
	for _, tc := range []struct {
		target       string
		wantRedirect bool
	}{
		{"http://localhost:8000/", true},
		{"http://127.0.0.1:8000/console", true},
		{"https://[::1]:8443/", true},
		{"https://evil.example/phish", false},
		{"http://evil.example/", false},
		{"javascript:alert(1)", false},
	} {
		t.Run(tc.target, func(t *testing.T) {
			resp, err := client.Get("https://" + u.Host + "/" + "dev/oauth2/v2.0/logout?post_logout_redirect_uri=" + url.QueryEscape(tc.target))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			if tc.wantRedirect && (resp.StatusCode != http.StatusFound || loc != tc.target) {
				t.Errorf("status %d, Location %q: want a redirect to %s", resp.StatusCode, loc, tc.target)
			}
			if !tc.wantRedirect && (resp.StatusCode != http.StatusOK || loc != "") {
				t.Errorf("status %d, Location %q: want the signed-out page, no redirect", resp.StatusCode, loc)
			}
		})
	}
}
