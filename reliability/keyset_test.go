package reliability

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/auth/authtest"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
	"github.com/fastmcp-auth/fastmcp-auth/mcpserver"
)

// freshToken mints a token never seen before (a random jti), so that the verifier's cache of
// verified tokens cannot answer for it: the signature is checked against the current keys.
func freshToken(t *testing.T, k *authtest.Key) string {
	t.Helper()
	c := authtest.EntraV2Claims(fxTenant, fxIssuer, fxAudience, "execute")
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	c["jti"] = hex.EncodeToString(b)
	return authtest.Mint(t, k, c)
}

// reverseStatus calls POST /reverse with token, bounded by timeout, and returns the status,
// the WWW-Authenticate header and the time taken.
func reverseStatus(t *testing.T, base, token string, timeout time.Duration) (int, string, time.Duration, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/reverse", strings.NewReader(`{"input_string":"abc"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", time.Since(start), err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), time.Since(start), nil
}

// TestKeySetFaults keeps an MCP load running with a valid token while the key set server
// goes slow, down, answers garbage, answers a huge body, and rotates keys. Throughout, the
// server must not crash, calls with known keys must keep working (including fresh tokens that
// the verified-token cache has never seen), a token with an unknown key must be refused with
// 401 invalid_token within bounded time, and the fault must really have been hit (a fetch,
// and the verifier's warning that it keeps the cached keys).
func TestKeySetFaults(t *testing.T) {
	fx := newFixture(t)
	logs := &testenv.SyncBuffer{}
	v, err := auth.NewVerifier(context.Background(), auth.VerifierConfig{
		JWKSURI: fx.jwks.URL, Issuers: []string{fxIssuer}, Audiences: []string{fxAudience}, ClockSkew: time.Minute,
		// Refresh often, and let each unknown kid refresh, so that every fault below is
		// hit both by the background refresh and by request-driven refreshes.
		RefreshInterval: 150 * time.Millisecond, MinRefreshInterval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	srv := serveVerified(t, v)

	unknown := authtest.NewKey(t, "never-published")
	huge := append([]byte(`{"keys":[`), bytes.Repeat([]byte(" "), 32<<20)...) // 32 MiB, never closed

	// The background load: 8 sessions with the token of key A for the whole test.
	stopLoad, loadDone := backgroundLoad(t, srv.URL+"/mcp", fx.token, 8)

	faults := []struct {
		name  string
		set   func()
		reset func()
		// unknownTimeout bounds the unknown-key request; slowKeySet means it is expected to
		// outlast it (the key set fetch takes longer than the client waits).
		slowKeySet bool
	}{
		{name: "down (503)", set: func() { fx.jwks.SetStatus(http.StatusServiceUnavailable) }, reset: func() { fx.jwks.SetStatus(http.StatusOK) }},
		{name: "garbage", set: func() { fx.jwks.SetBody([]byte("<html>upstream error</html>")) }, reset: func() { fx.jwks.SetKeys(fx.key) }},
		{name: "huge body (32 MiB)", set: func() { fx.jwks.SetBody(huge) }, reset: func() { fx.jwks.SetKeys(fx.key) }},
		// The hanging fetch is cut at reset (its connection closed), so that the next
		// phases do not wait for the verifier's 30 s fetch timeout.
		{name: "slow (hangs past the client timeout)", set: func() { fx.jwks.SetDelay(time.Hour) },
			reset: func() { fx.jwks.SetDelay(0); fx.jwks.CloseClientConnections() }, slowKeySet: true},
		{name: "closed (connection refused)", set: func() { fx.jwks.Listener.Close() }, reset: func() {}},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			fetches0 := v.KeySetFetches()
			warn0 := strings.Count(logs.String(), "key set refresh failed")
			f.set()
			defer f.reset()

			clientTimeout := time.Second
			if f.slowKeySet && long() {
				clientTimeout = 45 * time.Second // past the verifier's own 30 s fetch timeout
			}
			status, challenge, took, err := reverseStatus(t, srv.URL, freshToken(t, unknown), clientTimeout)
			for try := 0; f.slowKeySet && err == nil && took < 500*time.Millisecond && try < 5; try++ {
				// Answered at once: it joined a fetch started just before the delay was set.
				// The next unknown kid starts a fetch that hangs.
				time.Sleep(20 * time.Millisecond)
				status, challenge, took, err = reverseStatus(t, srv.URL, freshToken(t, unknown), clientTimeout)
			}
			report(t, "keyset-fault-unknown-kid", map[string]any{"fault": f.name, "status": status, "ms": took.Milliseconds(), "client_timeout_s": clientTimeout.Seconds()})
			switch {
			case f.slowKeySet && !long():
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("unknown key during a hanging key set: status %d, err %v; want the 1s client timeout first", status, err)
				}
			case f.slowKeySet:
				// The verifier gives up on the fetch after 30 s and answers with what it has.
				if err != nil || status != http.StatusUnauthorized || took < 25*time.Second || took > 35*time.Second {
					t.Errorf("unknown key during a hanging key set: status %d, %v after %v; want 401 after the verifier's 30s fetch timeout", status, err, took)
				}
			case err != nil || status != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`):
				t.Errorf("unknown key: status %d (%v), challenge %q, %v; want 401 invalid_token", status, err, challenge, took)
			}
			// Known key, never-seen token: answered from the cached keys, well within 2 s
			// (a hanging fetch would hold it for 30 s; the bound is loose for busy CI).
			for i := 0; i < 3; i++ {
				status, _, took, err = reverseStatus(t, srv.URL, freshToken(t, fx.key), 2*time.Second)
				if err != nil || status != http.StatusOK {
					t.Errorf("fresh token with the known key: status %d, %v, took %v; want 200 within 2s", status, err, took)
				}
			}
			if !f.slowKeySet || long() {
				waitFor(t, "a failed refresh warning", 3*time.Second, func() bool {
					return strings.Count(logs.String(), "key set refresh failed") > warn0
				})
			}
			// A fetch must start during the fault. The one that failed above may have been
			// counted just before fetches0 was read (in flight when the fault was set), so wait
			// for the next background refresh (every 150 ms) rather than read the count once. A
			// hanging fetch is not waited for: it may have been counted just before the fault.
			if !f.slowKeySet {
				waitFor(t, "a key set fetch during the fault", 3*time.Second, func() bool {
					return v.KeySetFetches() > fetches0
				})
			}
		})
		if strings.HasPrefix(f.name, "closed") {
			break // the key set server is gone; rotation needs it
		}
	}

	stopLoad()
	r := <-loadDone
	report(t, "keyset-faults-load", r)
	if r.Errors != 0 || r.Calls == 0 {
		t.Errorf("background load with the known key: %d calls, %d errors (first: %s); want 0 errors", r.Calls, r.Errors, r.FirstError)
	}
	if strings.Contains(logs.String(), fx.token) {
		t.Error("a token reached the verifier's log")
	}
}

// serveVerified serves mcpserver.Handler with v (scope "execute") on loopback until the test
// ends.
func serveVerified(t *testing.T, v *auth.Verifier) *httptest.Server {
	t.Helper()
	return testenv.ServeSelf(t, func(base string) (http.Handler, error) {
		return mcpserver.Handler(mcpserver.Config{Verifier: v.Verify, RequiredScopes: []string{"execute"},
			PublicURL: base + "/mcp"})
	})
}

// waitFor polls cond every 20ms for at most d.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("timed out after %v waiting for %s", d, what)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// backgroundLoad starts runLoad with sessions sessions until stop is called; done gives the
// result.
func backgroundLoad(t *testing.T, url, token string, sessions int) (stop func(), done <-chan *loadResult) {
	t.Helper()
	c := make(chan *loadResult, 1)
	s := make(chan struct{})
	go func() {
		r, err := runLoad(testCtx(t, 5*time.Minute), loadConfig{url: url, token: token, sessions: sessions, duration: time.Hour, stop: s})
		if err != nil {
			r = &loadResult{Errors: 1, FirstError: err.Error()}
		}
		c <- r
	}()
	var once bool
	return func() {
		if !once {
			once = true
			close(s)
		}
	}, c
}

// TestKeyRotationMidLoad rotates the signing keys while a load with the old key runs: the
// new key is published next to the old one (tokens of both work at once, the new kid found
// by an on-demand refresh), then the old key is withdrawn (its tokens are refused, the new
// key's keep working). The load with the old key sees no error while that key is published.
func TestKeyRotationMidLoad(t *testing.T) {
	fx := newFixture(t)
	v, err := auth.NewVerifier(context.Background(), auth.VerifierConfig{
		JWKSURI: fx.jwks.URL, Issuers: []string{fxIssuer}, Audiences: []string{fxAudience}, ClockSkew: time.Minute,
		MinRefreshInterval: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	srv := serveVerified(t, v)

	stopLoad, loadDone := backgroundLoad(t, srv.URL+"/mcp", fx.token, 8)
	defer stopLoad()
	time.Sleep(300 * time.Millisecond)
	keyB := authtest.NewKey(t, "rel-key-2")
	fx.jwks.SetKeys(fx.key, keyB)
	for i := 0; i < 5; i++ {
		for name, k := range map[string]*authtest.Key{"new key": keyB, "old key": fx.key} {
			if status, _, _, err := reverseStatus(t, srv.URL, freshToken(t, k), 2*time.Second); err != nil || status != http.StatusOK {
				t.Errorf("both keys published, %s: status %d, %v; want 200", name, status, err)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopLoad()
	r := <-loadDone
	report(t, "key-rotation-load", r)
	if r.Errors != 0 || r.Calls == 0 {
		t.Errorf("load with the old key during the rotation: %d calls, %d errors (first: %s); want 0 errors", r.Calls, r.Errors, r.FirstError)
	}

	// Withdraw the old key: an unknown-kid refresh (caused by any new kid) picks that up.
	fx.jwks.SetKeys(keyB)
	_, _, _, _ = reverseStatus(t, srv.URL, freshToken(t, authtest.NewKey(t, "trigger-refresh")), 2*time.Second)
	if status, _, _, err := reverseStatus(t, srv.URL, freshToken(t, keyB), 2*time.Second); err != nil || status != http.StatusOK {
		t.Errorf("after the rotation, new key: status %d, %v; want 200", status, err)
	}
	status, challenge, _, err := reverseStatus(t, srv.URL, freshToken(t, fx.key), 2*time.Second)
	if err != nil || status != http.StatusUnauthorized || !strings.Contains(challenge, "invalid_token") {
		t.Errorf("after the rotation, withdrawn key: status %d, %q, %v; want 401 invalid_token", status, challenge, err)
	}
}

// TestServeStartKeySetFaults starts the real `serve` against a faulty key set: it must not
// start serving with no keys, and must exit with a one-line error naming the key set URL
// and what to check. Every case is exit 4 ("cannot reach the authority"): the verifier treats
// a key set that answers something unusable (garbage, too big, no key) as unavailable, which
// is what it is to the server.
func TestServeStartKeySetFaults(t *testing.T) {
	fx := newFixture(t)
	closed := authtest.NewJWKSServer(t, fx.key)
	closed.Close()
	tests := []struct {
		name     string
		set      func(*authtest.JWKSServer)
		jwks     *authtest.JWKSServer
		wantCode int
	}{
		{name: "down (503)", set: func(s *authtest.JWKSServer) { s.SetStatus(http.StatusServiceUnavailable) }, wantCode: 4},
		{name: "connection refused", jwks: closed, wantCode: 4},
		{name: "garbage", set: func(s *authtest.JWKSServer) { s.SetBody([]byte("<html>oops</html>")) }, wantCode: 4},
		{name: "huge body (32 MiB)", set: func(s *authtest.JWKSServer) { s.SetBody(bytes.Repeat([]byte(" "), 32<<20)) }, wantCode: 4},
		{name: "empty key set", set: func(s *authtest.JWKSServer) { s.SetBody([]byte(`{"keys":[]}`)) }, wantCode: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.jwks
			if s == nil {
				s = authtest.NewJWKSServer(t, fx.key)
				tc.set(s)
			}
			ctx := testCtx(t, 60*time.Second)
			cmd := exec.CommandContext(ctx, testenv.Binary(t), "serve", "--addr", "127.0.0.1:0", "--jwks-uri", s.URL, "--issuer", fxIssuer, "--audience", fxAudience)
			cmd.Env = cleanEnv()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			start := time.Now()
			err := cmd.Run()
			code := exitCode(err)
			last := lastLine(stderr.String())
			report(t, "serve-start-keyset-fault", map[string]any{"fault": tc.name, "exit": code, "ms": time.Since(start).Milliseconds(), "error": last})
			if code != tc.wantCode || !strings.HasPrefix(last, "error: ") || !strings.Contains(last, s.URL) {
				t.Errorf("exit %d, last line %q; want exit %d and an error naming %s", code, last, tc.wantCode, s.URL)
			}
		})
	}
}

// exitCode is the exit status of a finished command (-1 when it did not run or was killed).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
