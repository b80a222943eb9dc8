package mcpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/httpx"
)

// bearerAuth is the go-sdk OAuthHandler of the client: it supplies the bearer token of an
// [auth.TokenSupply] on every request and, on a 401, asks the supply once for a replacement
// (the supply forces a refresh at most once per interval) and lets the SDK retry; any other
// 401 or 403 becomes an *AuthError. Going through the SDK's OAuthHandler rather than a
// header-setting RoundTripper is what gives a typed error with the status and challenge;
// otherwise the SDK only reports "Unauthorized".
type bearerAuth struct {
	tokens *auth.TokenSupply
}

// TokenSource returns the supply's current token, or nil (no Authorization header) when
// there is no supply.
func (b bearerAuth) TokenSource(ctx context.Context) (oauth2.TokenSource, error) {
	if b.tokens == nil {
		return nil, nil
	}
	return supplySource{ctx: ctx, tokens: b.tokens}, nil
}

// Authorize retries a 401 once with a newer token when the supply has one; a 403 (a missing
// scope) is never retried: a refreshed token has the same scopes. It reads a little of the
// body, for servers that explain themselves only there.
func (b bearerAuth) Authorize(ctx context.Context, req *http.Request, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	_ = resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized && b.tokens != nil {
		rejected, _ := httpx.BearerToken(req)
		if fresh, err := b.tokens.Refresh(ctx, rejected); err == nil && fresh != rejected {
			return nil
		}
	}
	return newAuthError(resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(body))
}

// supplySource adapts an [auth.TokenSupply] to oauth2.TokenSource, whose Token method has no
// context: the one the SDK passed to TokenSource is used.
type supplySource struct {
	ctx    context.Context
	tokens *auth.TokenSupply
}

// Token implements oauth2.TokenSource.
func (s supplySource) Token() (*oauth2.Token, error) {
	t, err := s.tokens.Token(s.ctx)
	if err != nil {
		return nil, &tokenError{err: err}
	}
	return &oauth2.Token{AccessToken: t, TokenType: "Bearer"}, nil
}

// tokenError marks a failure of the token supply (not signed in, authority unreachable), so
// that classify reports it as the sign-in's error rather than as the MCP server's.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// watcher wraps the HTTP transport to observe protocol facts the go-sdk does not expose:
//   - progress notifications as they come off the wire, counted per progress token, so that
//     CallTool can wait until the SDK has dispatched each of them before returning;
//   - the delivery of notifications/cancelled, so that a cancelled call waits for it;
//   - a 404 to a request outside any session, which means there is no MCP endpoint there;
//   - the last 401 or 403, which the go-sdk reports only as "Unauthorized" when the retry
//     after a token refresh is refused too.
//
// It logs method, path, status and duration at debug level, never a header: the
// Authorization header must not reach a log.
type watcher struct {
	base   http.RoundTripper
	logger *slog.Logger

	onProgressSeen func(token string)
	cancels        signal
	notFound       atomic.Bool
	lastAuth       atomic.Pointer[AuthError] // nil after a successful answer
}

// RoundTrip implements http.RoundTripper.
func (w *watcher) RoundTrip(req *http.Request) (*http.Response, error) {
	isCancel := false
	if req.Method == http.MethodPost && req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(io.LimitReader(body, 64<<10))
			_ = body.Close()
			isCancel = bytes.Contains(b, []byte(`"notifications/cancelled"`))
		}
	}
	start := time.Now()
	resp, err := w.base.RoundTrip(req)
	if isCancel {
		defer w.cancels.bump()
	}
	if err != nil {
		w.logger.Debug("mcp http request failed", "method", req.Method, "path", req.URL.Path, "error", err)
		return nil, err
	}
	w.logger.Debug("mcp http request", "method", req.Method, "path", req.URL.Path,
		"status", resp.StatusCode, "duration", time.Since(start))
	if resp.StatusCode == http.StatusNotFound && req.Header.Get("Mcp-Session-Id") == "" {
		w.notFound.Store(true)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		// Peek at the start of the body (some servers explain only there) and put it back.
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
		w.lastAuth.Store(newAuthError(resp.StatusCode, resp.Header.Get("WWW-Authenticate"), string(head)))
	case resp.StatusCode/100 == 2:
		w.lastAuth.Store(nil)
	}
	if ct := resp.Header.Get("Content-Type"); len(ct) >= 17 && ct[:17] == "text/event-stream" && w.onProgressSeen != nil {
		resp.Body = &sseTee{ReadCloser: resp.Body, onEvent: w.sawEvent}
	}
	return resp, nil
}

// sawEvent inspects one SSE data payload (a JSON-RPC message) for a progress notification.
func (w *watcher) sawEvent(data []byte) {
	if !bytes.Contains(data, []byte(`"notifications/progress"`)) {
		return
	}
	var msg struct {
		Method string `json:"method"`
		Params struct {
			ProgressToken any `json:"progressToken"`
		} `json:"params"`
	}
	if json.Unmarshal(data, &msg) != nil || msg.Method != "notifications/progress" {
		return
	}
	if tok, ok := msg.Params.ProgressToken.(string); ok {
		w.onProgressSeen(tok)
	}
}

// maxSSELine bounds the partial line the tee keeps; longer lines are not inspected (the SDK
// enforces its own event size limit).
const maxSSELine = 4 << 20

// sseTee passes an SSE body through unchanged and calls onEvent with each event's data,
// synchronously inside Read: by the time the SDK sees an event's bytes, onEvent has run.
type sseTee struct {
	io.ReadCloser
	onEvent func([]byte)

	line     []byte
	data     []byte
	skipping bool
}

// Read implements io.Reader.
func (t *sseTee) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	t.feed(p[:n])
	return n, err
}

func (t *sseTee) feed(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if !t.skipping {
				t.line = append(t.line, b...)
				if len(t.line) > maxSSELine {
					t.line, t.skipping = t.line[:0], true
				}
			}
			return
		}
		if !t.skipping {
			t.line = append(t.line, b[:i]...)
			t.endLine(bytes.TrimSuffix(t.line, []byte("\r")))
		}
		t.line, t.skipping = t.line[:0], false
		b = b[i+1:]
	}
}

func (t *sseTee) endLine(line []byte) {
	switch {
	case len(line) == 0:
		if len(t.data) > 0 {
			t.onEvent(t.data)
		}
		t.data = t.data[:0]
	case bytes.HasPrefix(line, []byte("data:")):
		v := bytes.TrimPrefix(line[5:], []byte(" "))
		if len(t.data) > 0 {
			t.data = append(t.data, '\n')
		}
		if len(t.data)+len(v) <= maxSSELine {
			t.data = append(t.data, v...)
		}
	}
}

// signal is a counter that can be waited on.
type signal struct {
	mu sync.Mutex
	n  int
	ch chan struct{}
}

// bump increments the counter and wakes the waiters.
func (s *signal) bump() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// count returns the counter and a channel closed at the next bump.
func (s *signal) count() (int, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.n, s.ch
}

// waitUntil waits until cond holds, re-checking it at each bump, or until the timeout; it
// reports whether cond held.
func (s *signal) waitUntil(cond func() bool, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		_, ch := s.count() // before cond, so that a bump in between is not lost
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return cond()
		}
	}
}
