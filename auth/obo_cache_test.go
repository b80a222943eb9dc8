package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// countingExchange returns an exchange that counts its calls and returns a token expiring
// after life (or err), blocking until release is closed when release is not nil.
type countingExchange struct {
	clk     *testenv.Clock
	life    time.Duration
	err     error
	release chan struct{}
	calls   atomic.Int32
}

func (e *countingExchange) fn(context.Context) (*Token, error) {
	n := e.calls.Add(1)
	if e.release != nil {
		<-e.release
	}
	if e.err != nil {
		return nil, e.err
	}
	return &Token{AccessToken: fmt.Sprintf("tok-%d", n), ExpiresOn: e.clk.Now().Add(e.life)}, nil
}

// mustGet gets key's token from c and returns it.
func mustGet(t *testing.T, c *oboCache, key string, force bool, ex *countingExchange) string {
	t.Helper()
	tok, err := c.get(t.Context(), key, force, ex.fn)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// ConcurrentTokens calls get from n goroutines at once and returns the access tokens (for
// the single-flight tests of this package and of auth_test).
func ConcurrentTokens(t *testing.T, n int, get func() (*Token, error)) []string {
	t.Helper()
	var wg sync.WaitGroup
	got := make([]string, n)
	for i := range n {
		wg.Go(func() {
			tok, err := get()
			if err != nil {
				t.Errorf("token: %v", err)
				return
			}
			got[i] = tok.AccessToken
		})
	}
	wg.Wait()
	return got
}

func newTestCache(clk *testenv.Clock, maxEntries int) *oboCache {
	c := &oboCache{}
	c.init(clk.Now, 5*time.Second, maxEntries)
	return c
}

// TestOBOCacheSingleFlight: 50 concurrent first calls for one key make one exchange, and
// so do 50 concurrent forced calls (each joins the exchange in flight).
func TestOBOCacheSingleFlight(t *testing.T) {
	t.Parallel()
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprintf("force=%v", force), func(t *testing.T) {
			t.Parallel()
			clk := testenv.NewClock(time.Unix(1_800_000_000, 0))
			c := newTestCache(clk, 10)
			ex := &countingExchange{clk: clk, life: time.Hour, release: make(chan struct{})}
			var joined atomic.Int32
			c.joined = func() {
				if joined.Add(1) == 49 {
					close(ex.release) // every other caller waits on the one exchange
				}
			}
			got := ConcurrentTokens(t, 50, func() (*Token, error) { return c.get(t.Context(), "k", force, ex.fn) })
			if n := ex.calls.Load(); n != 1 {
				t.Fatalf("exchanges = %d, want 1", n)
			}
			for i, g := range got {
				if g != "tok-1" {
					t.Fatalf("caller %d got %q, want tok-1", i, g)
				}
			}
		})
	}
}

// TestOBOCacheExpiryAndForce: a token is served until 5 minutes before its expiry (as MSAL
// counts), then exchanged again; force exchanges again at once.
func TestOBOCacheExpiryAndForce(t *testing.T) {
	t.Parallel()
	clk := testenv.NewClock(time.Unix(1_800_000_000, 0))
	c := newTestCache(clk, 10)
	ex := &countingExchange{clk: clk, life: time.Hour}
	steps := []struct {
		advance time.Duration
		force   bool
		want    string
	}{
		{0, false, "tok-1"},
		{54 * time.Minute, false, "tok-1"}, // 6 minutes left: still served
		{time.Minute, false, "tok-2"},      // 5 minutes left: MSAL's expiry, exchanged again
		{0, false, "tok-2"},                // cached
		{0, true, "tok-3"},                 // the upstream said 401: a fresh exchange
		{0, false, "tok-3"},                // which is cached
		{2 * time.Hour, false, "tok-4"},    // long expired
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		if got := mustGet(t, c, "k", s.force, ex); got != s.want {
			t.Fatalf("step %d: got %s, want %s", i, got, s.want)
		}
	}
}

// TestOBOCacheFailure: a failure is answered from the cache for a few seconds, forced calls
// included, then the exchange is tried again.
func TestOBOCacheFailure(t *testing.T) {
	t.Parallel()
	clk := testenv.NewClock(time.Unix(1_800_000_000, 0))
	c := newTestCache(clk, 10)
	boom := errors.New("consent required")
	ex := &countingExchange{clk: clk, life: time.Hour, err: boom}
	for i, force := range []bool{false, false, true} {
		if _, err := c.get(t.Context(), "k", force, ex.fn); !errors.Is(err, boom) {
			t.Fatalf("call %d: err = %v, want the failure", i, err)
		}
	}
	if n := ex.calls.Load(); n != 1 {
		t.Fatalf("exchanges within the failure TTL = %d, want 1", n)
	}
	clk.Advance(6 * time.Second)
	ex.err = nil
	if got := mustGet(t, c, "k", false, ex); got != "tok-2" {
		t.Fatalf("after the failure TTL: %s, want tok-2", got)
	}
}

// TestOBOCacheBounded: the cache never holds more than its bound, and expired entries leave.
func TestOBOCacheBounded(t *testing.T) {
	t.Parallel()
	clk := testenv.NewClock(time.Unix(1_800_000_000, 0))
	c := newTestCache(clk, 3)
	ex := &countingExchange{clk: clk, life: time.Hour}
	for i := range 5 {
		mustGet(t, c, fmt.Sprintf("user-%d", i), false, ex)
	}
	if n := c.len(); n != 3 {
		t.Fatalf("entries = %d, want the bound 3", n)
	}
	clk.Advance(2 * time.Hour)
	mustGet(t, c, "user-9", false, ex)
	if n := c.len(); n != 1 {
		t.Fatalf("entries after expiry = %d, want 1 (the expired ones swept)", n)
	}
}

// TestOBOKey: the key separates tenants, users and scope sets, and ignores scope order and case.
func TestOBOKey(t *testing.T) {
	t.Parallel()
	a := &Identity{ObjectID: "o1", TenantID: "t1"}
	if oboKey(a, []string{"x/A", "x/b"}) != oboKey(a, []string{"X/B", "x/a"}) {
		t.Error("scope order or case changes the key")
	}
	for _, other := range []*Identity{{ObjectID: "o2", TenantID: "t1"}, {ObjectID: "o1", TenantID: "t2"}} {
		if oboKey(a, []string{"x/a"}) == oboKey(other, []string{"x/a"}) {
			t.Errorf("%+v shares a key with %+v", other, a)
		}
	}
	if oboKey(a, []string{"x/a"}) == oboKey(a, []string{"y/a"}) {
		t.Error("scopes of another resource share a key")
	}
}
