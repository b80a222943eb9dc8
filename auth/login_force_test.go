package auth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// formRecorder is an http.RoundTripper that keeps the form of every token request, so tests
// assert what MSAL actually sent (the claims parameter of a forced refresh).
type formRecorder struct {
	next http.RoundTripper

	mu    sync.Mutex
	forms []url.Values
}

func (r *formRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/oauth2/v2.0/token") && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		if v, err := url.ParseQuery(string(b)); err == nil {
			r.mu.Lock()
			r.forms = append(r.forms, v)
			r.mu.Unlock()
		}
	}
	return r.next.RoundTrip(req)
}

func (r *formRecorder) last() url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.forms) == 0 {
		return nil
	}
	return r.forms[len(r.forms)-1]
}

// newRecordingLogin is newTestLogin with the token requests recorded.
func newRecordingLogin(t *testing.T, f *fakeAuthority, cacheFile string) (*Login, *formRecorder) {
	t.Helper()
	rec := &formRecorder{next: f.srv.Client().Transport}
	l, _ := newTestLogin(t, f, cacheFile, func(c *LoginConfig) {
		c.HTTPClient = &http.Client{Transport: rec, Timeout: 10 * time.Second}
	})
	return l, rec
}

func TestRefreshReplacesAValidCachedToken(t *testing.T) {
	t.Parallel()
	f := newFakeAuthority(t) // one-hour tokens: MSAL serves them from the cache
	cacheFile := filepath.Join(t.TempDir(), "sub", "token_cache.json")
	l, rec := newRecordingLogin(t, f, cacheFile)
	ctx := testCtx(t)
	first := deviceSignIn(t, ctx, l)
	cached, err := l.Silent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !cached.FromCache || cached.AccessToken != first.AccessToken {
		t.Fatalf("Silent: FromCache=%v, same token %v; want the cached one", cached.FromCache, cached.AccessToken == first.AccessToken)
	}

	fresh, err := l.Refresh(ctx)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if fresh.FromCache || fresh.AccessToken == first.AccessToken {
		t.Errorf("Refresh: FromCache=%v, same token %v; want a new token from the authority", fresh.FromCache, fresh.AccessToken == first.AccessToken)
	}
	if d := cmp.Diff([]string{"device_code", "refresh_token"}, f.grantLog()); d != "" {
		t.Errorf("grants (-want +got):\n%s", d)
	}
	form := rec.last()
	got := map[string]string{"grant_type": form.Get("grant_type"), "claims": form.Get("claims"), "client_id": form.Get("client_id")}
	want := map[string]string{"grant_type": "refresh_token", "claims": "{}", "client_id": "test-client"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("refresh request (-want +got):\n%s", d)
	}
	if !strings.HasPrefix(form.Get("refresh_token"), "rt-1|") {
		t.Errorf("the refresh grant did not redeem the cached refresh token")
	}

	// The new token and the rotated refresh token are in the file: another process (a new
	// Login) gets the new token from the cache, and its own refresh redeems the rotated one.
	l2, rec2 := newRecordingLogin(t, f, cacheFile)
	again, err := l2.Silent(ctx)
	if err != nil {
		t.Fatalf("Silent in another process: %v", err)
	}
	if !again.FromCache || again.AccessToken != fresh.AccessToken {
		t.Errorf("Silent after Refresh: FromCache=%v, refreshed token %v; want the refreshed token from the cache", again.FromCache, again.AccessToken == fresh.AccessToken)
	}
	if _, err := l2.Refresh(ctx); err != nil {
		t.Fatalf("second Refresh: %v", err)
	}
	if rt := rec2.last().Get("refresh_token"); !strings.HasPrefix(rt, "rt-2|") {
		t.Errorf("second refresh redeemed refresh token #%s, want the rotated #2", strings.TrimPrefix(strings.Split(rt, "|")[0], "rt-"))
	}
	assertModes(t, cacheFile)
}

func TestRefreshErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, f *fakeAuthority, l *Login) // after a device login unless nil
		login bool
		want  error
	}{
		{name: "nothing cached", want: ErrNotSignedIn},
		{name: "refresh token revoked", login: true, want: ErrNotSignedIn,
			setup: func(_ *testing.T, f *fakeAuthority, _ *Login) { f.set(func(f *fakeAuthority) { f.revoked = true }) }},
		{name: "signed out", login: true, want: ErrNotSignedIn,
			setup: func(t *testing.T, _ *fakeAuthority, l *Login) {
				if _, err := l.Logout(testCtx(t)); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "authority down", login: true, want: ErrUnreachable,
			setup: func(_ *testing.T, f *fakeAuthority, _ *Login) { f.srv.Close() }}, // also drops the client's idle connections
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAuthority(t)
			l, _ := newRecordingLogin(t, f, filepath.Join(t.TempDir(), "token_cache.json"))
			ctx := testCtx(t)
			if tc.login {
				deviceSignIn(t, ctx, l)
			}
			if tc.setup != nil {
				tc.setup(t, f, l)
			}
			_, err := l.Refresh(ctx)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Refresh: %v; want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), "rt-") {
				t.Errorf("the error leaks the refresh token: %v", err)
			}
		})
	}
}

// TestRefreshReleasesTheCacheLock checks the lock discipline of FileCache: after Refresh,
// another process's Login gets the cache at once instead of waiting for the lock.
func TestRefreshReleasesTheCacheLock(t *testing.T) {
	t.Parallel()
	f := newFakeAuthority(t)
	cacheFile := filepath.Join(t.TempDir(), "token_cache.json")
	l, _ := newRecordingLogin(t, f, cacheFile)
	if _, err := l.DeviceCode(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		prepare func()
	}{
		{"after a refresh", func() {}},
		{"after a refused refresh", func() { f.set(func(f *fakeAuthority) { f.revoked = true }) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.prepare()
			_, _ = l.Refresh(testCtx(t))
			other := NewFileCache(cacheFile, nil)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := other.acquire(ctx); err != nil {
				t.Fatalf("the cache lock is still held after Refresh: %v", err)
			}
			other.Release()
		})
	}
}
