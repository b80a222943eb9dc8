package authtest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// JWKSServer is a loopback HTTP server publishing a key set at every path. Its embedded
// *httptest.Server gives URL (usable as a JWKS URI) and Close; it is closed at test cleanup.
type JWKSServer struct {
	*httptest.Server

	fetches atomic.Int64

	mu     sync.Mutex
	body   []byte
	status int
	delay  time.Duration
}

// NewJWKSServer starts a key set server publishing keys.
func NewJWKSServer(t testing.TB, keys ...*Key) *JWKSServer {
	t.Helper()
	s := &JWKSServer{body: JWKS(keys...), status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *JWKSServer) serve(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	s.mu.Lock()
	body, status, delay := s.body, s.status, s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status != http.StatusOK {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// SetKeys replaces the published key set (key rotation).
func (s *JWKSServer) SetKeys(keys ...*Key) { s.SetBody(JWKS(keys...)) }

// SetBody publishes raw bytes as the key set, e.g. a set holding a broken key.
func (s *JWKSServer) SetBody(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

// SetStatus makes every later fetch answer this HTTP status with a non-JSON body (fail
// mode, e.g. 503); http.StatusOK restores normal service.
func (s *JWKSServer) SetStatus(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = code
}

// SetDelay makes every later fetch wait d before answering, so concurrent callers pile up.
func (s *JWKSServer) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Fetches returns the number of requests served so far, failed ones included.
func (s *JWKSServer) Fetches() int { return int(s.fetches.Load()) }
