package gateway

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// TestAssertionsKeepTheNewestUnexpiredToken: an older token replayed by a slow request does
// not replace a newer one, and an expired token is never handed out.
func TestAssertionsKeepTheNewestUnexpiredToken(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	a := assertions{now: func() time.Time { return now }}
	idAt := func(exp time.Time) *auth.Identity { return &auth.Identity{ObjectID: "u", Expiry: exp} }
	if _, _, err := a.get("t/u"); !errors.Is(err, ErrNoAssertion) {
		t.Fatalf("empty: %v", err)
	}
	a.note("t/u", idAt(now.Add(time.Hour)), "newer")
	a.note("t/u", idAt(now.Add(time.Minute)), "older")
	if tok, _, err := a.get("t/u"); err != nil || tok != "newer" {
		t.Fatalf("got %q, %v; want the newer token", tok, err)
	}
	now = now.Add(2 * time.Hour)
	if _, _, err := a.get("t/u"); !errors.Is(err, ErrNoAssertion) {
		t.Fatalf("expired: %v", err)
	}
	// Expired entries of other users are pruned as new ones arrive.
	for i := range 40 {
		a.note(string(rune('a'+i)), idAt(now.Add(time.Hour)), "x")
	}
	a.mu.Lock()
	_, kept := a.m["t/u"]
	a.mu.Unlock()
	if kept {
		t.Error("an expired token was kept after pruning")
	}
}

// TestDialerGetsTheUsersExchangedToken: with Config.OBO the Dialer learns who started the
// session and can exchange that user's newest token, and only that user's.
func TestDialerGetsTheUsersExchangedToken(t *testing.T) {
	var mu sync.Mutex
	var infos []SessionInfo
	var exchanged []string
	h := newHarness(t, func(c *Config) {
		dial := c.Dial
		c.Dial = func(ctx context.Context, info SessionInfo, recv func([]byte), exited func(error)) (Upstream, error) {
			mu.Lock()
			infos = append(infos, info)
			mu.Unlock()
			return dial(ctx, info, recv, exited)
		}
		c.OBO = func(_ context.Context, id *auth.Identity, assertion string, _ bool) (*auth.Token, error) {
			mu.Lock()
			exchanged = append(exchanged, assertion)
			mu.Unlock()
			return &auth.Token{AccessToken: "obo-for-" + id.ObjectID}, nil
		}
	})
	h.started("alice")
	h.started("bob")
	mu.Lock()
	defer mu.Unlock()
	if len(infos) != 2 {
		t.Fatalf("%d dials, want 2", len(infos))
	}
	for i, user := range []string{"alice", "bob"} {
		info := infos[i]
		if info.Identity == nil || info.Identity.ObjectID != user || info.UserToken == nil {
			t.Fatalf("session %d: identity %+v, UserToken set %v", i, info.Identity, info.UserToken != nil)
		}
		mu.Unlock()
		tok, err := info.UserToken(context.Background(), false)
		mu.Lock()
		if err != nil || tok.AccessToken != "obo-for-"+user {
			t.Fatalf("%s: %v, %v", user, tok, err)
		}
		if got := exchanged[len(exchanged)-1]; got != "caller-token-of-"+user {
			t.Errorf("%s's session exchanged %q", user, got)
		}
	}
}

// TestNoUserTokenWithoutOBO: without Config.OBO no token is kept and the Dialer gets none.
func TestNoUserTokenWithoutOBO(t *testing.T) {
	var got SessionInfo
	h := newHarness(t, func(c *Config) {
		dial := c.Dial
		c.Dial = func(ctx context.Context, info SessionInfo, recv func([]byte), exited func(error)) (Upstream, error) {
			got = info
			return dial(ctx, info, recv, exited)
		}
	})
	h.client("alice").initialize()
	if got.UserToken != nil {
		t.Error("UserToken set without OBO")
	}
	h.g.assertions.mu.Lock()
	defer h.g.assertions.mu.Unlock()
	if len(h.g.assertions.m) != 0 {
		t.Error("tokens kept without OBO")
	}
}
