package webconsole

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// TestDiscoverStaysOnOrigin (issue 10): an authority whose discovery document redirects to
// another origin (here the same host on another port) is refused; the endpoints the browser
// is sent to never come from there.
func TestDiscoverStaysOnOrigin(t *testing.T) {
	t.Parallel()
	var asked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		asked.Add(1)
		_, _ = w.Write([]byte(`{"authorization_endpoint":"https://evil.example/authorize","token_endpoint":"https://evil.example/token"}`))
	}))
	t.Cleanup(other.Close)
	authority := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(authority.Close)
	for _, client := range []*http.Client{nil, {}} {
		if _, err := discover(context.Background(), client, authority.URL+"/tenant"); !errors.Is(err, netx.ErrCrossOriginRedirect) {
			t.Errorf("discover through a cross-origin redirect: %v, want ErrCrossOriginRedirect", err)
		}
	}
	if n := asked.Load(); n != 0 {
		t.Errorf("the other origin was asked %d times", n)
	}
}
