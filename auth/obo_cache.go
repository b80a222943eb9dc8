package auth

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

// oboRefreshMargin is how long before its expiry a cached On-Behalf-Of token stops being
// handed out: MSAL Go treats an access token within 5 minutes of expiry as expired
// (apps/internal/base/storage/items.go; ../shared/notes/msal-go.md section 4), and we do the
// same, so that a request sent near the end, or a per-user process given the token, never
// holds one about to expire. It also keeps us clear of TokenSupply's RefreshLeeway (2m),
// which would otherwise ask again and get the same token back.
const oboRefreshMargin = 5 * time.Minute

// oboSweepInterval is how often expired entries are removed from the map.
const oboSweepInterval = time.Minute

// oboCache is the On-Behalf-Of token cache: keyed by tenant, object ID and scopes (one
// entry per user and downstream resource), each entry dropped once it expires, bounded in
// size; concurrent requests for a key share one exchange; a failure is kept for a few
// seconds. Unlike MSAL's own OBO cache it does not depend on the incoming token, which
// changes every hour per user.
type oboCache struct {
	now        func() time.Time
	failureTTL time.Duration
	max        int

	mu        sync.Mutex
	entries   map[string]*oboEntry
	inflight  map[string]*oboCall
	nextSweep time.Time
	// joined, when set (tests), is called with mu held each time a caller joins an exchange
	// in flight.
	joined func()
}

// oboEntry is a cached token or failure, served until until.
type oboEntry struct {
	tok   *Token
	err   error
	until time.Time
}

// oboCall is an exchange in flight; done is closed when tok or err is set.
type oboCall struct {
	done chan struct{}
	tok  *Token
	err  error
}

// init sets the clock and bounds.
func (c *oboCache) init(now func() time.Time, failureTTL time.Duration, maxEntries int) {
	c.now, c.failureTTL, c.max = now, failureTTL, maxEntries
	c.entries = map[string]*oboEntry{}
	c.inflight = map[string]*oboCall{}
}

// oboKey is the cache key of a user and scope set: tid, oid (sub when there is none) and the
// scopes, lower-cased and sorted. The identity is the verified one, so a caller cannot pick
// another user's entry.
func oboKey(id *Identity, scopes []string) string {
	s := make([]string, 0, len(scopes))
	for _, sc := range scopes {
		s = append(s, strings.ToLower(strings.TrimSpace(sc)))
	}
	slices.Sort(s)
	return strings.ToLower(id.TenantID) + "\x00" + id.User() + "\x00" + strings.Join(slices.Compact(s), " ")
}

// get returns key's cached token, or runs exchange once for every concurrent caller of key.
// force skips a cached token (not a cached failure: the failure is seconds old, and the
// authority would answer the same) but joins an exchange already in flight, which is fresh.
func (c *oboCache) get(ctx context.Context, key string, force bool, exchange func(context.Context) (*Token, error)) (*Token, error) {
	now := c.now()
	c.mu.Lock()
	c.sweepLocked(now, false)
	call := c.inflight[key]
	if call == nil {
		if e := c.entries[key]; e != nil && now.Before(e.until) && (e.err != nil || !force) {
			c.mu.Unlock()
			return e.tok, e.err
		}
		call = &oboCall{done: make(chan struct{})}
		c.inflight[key] = call
		// The exchange runs detached from ctx: other callers may wait on it, and one of them
		// giving up must not fail the rest. It has its own deadline.
		go c.run(context.WithoutCancel(ctx), key, call, exchange)
	} else if c.joined != nil {
		c.joined()
	}
	c.mu.Unlock()
	select {
	case <-call.done:
		return call.tok, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run performs one exchange and stores its result.
func (c *oboCache) run(ctx context.Context, key string, call *oboCall, exchange func(context.Context) (*Token, error)) {
	ctx, cancel := context.WithTimeout(ctx, oboExchangeTimeout)
	defer cancel()
	tok, err := exchange(ctx)
	if err == nil && (tok == nil || tok.AccessToken == "") {
		err = errors.New("on-behalf-of: the authority returned an empty access token")
	}
	now := c.now()
	c.mu.Lock()
	delete(c.inflight, key)
	switch {
	case err == nil:
		c.storeLocked(key, &oboEntry{tok: tok, until: usableUntil(tok, now)})
	case !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled):
		c.storeLocked(key, &oboEntry{err: err, until: now.Add(c.failureTTL)})
	}
	c.mu.Unlock()
	if err != nil {
		tok = nil
	}
	call.tok, call.err = tok, err
	close(call.done)
}

// usableUntil is when a token obtained at now stops being handed out: oboRefreshMargin
// before its expiry, or half-way through a lifetime shorter than twice that margin.
func usableUntil(tok *Token, now time.Time) time.Time {
	if tok.ExpiresOn.IsZero() {
		return now.Add(oboRefreshMargin)
	}
	margin := oboRefreshMargin
	if life := tok.ExpiresOn.Sub(now); life < 2*margin {
		margin = life / 2
	}
	return tok.ExpiresOn.Add(-margin)
}

// storeLocked stores e, evicting the entry that expires first when the cache is full.
func (c *oboCache) storeLocked(key string, e *oboEntry) {
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		c.sweepLocked(c.now(), true)
		if len(c.entries) >= c.max {
			var victim string
			var first time.Time
			for k, v := range c.entries {
				if victim == "" || v.until.Before(first) {
					victim, first = k, v.until
				}
			}
			delete(c.entries, victim)
		}
	}
	c.entries[key] = e
}

// sweepLocked removes the expired entries: at most once per oboSweepInterval, unless all
// (the cache is full).
func (c *oboCache) sweepLocked(now time.Time, all bool) {
	if !all && now.Before(c.nextSweep) {
		return
	}
	c.nextSweep = now.Add(oboSweepInterval)
	for k, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, k)
		}
	}
}

// len returns the number of cached entries (tests).
func (c *oboCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
