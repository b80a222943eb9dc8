package auth

import (
	"context"
	"fmt"
	"time"
)

// keySetTimeout bounds one key-set fetch.
const keySetTimeout = 30 * time.Second

// keySetFetch is one key-set fetch that concurrent callers wait on together.
type keySetFetch struct {
	done chan struct{}
	err  error
}

// fetchKeySet GETs and parses the key set once.
func (v *Verifier) fetchKeySet(ctx context.Context) (*keySet, error) {
	v.fetches.Add(1)
	body, err := getBounded(ctx, v.client, v.jwksURI, keySetTimeout)
	if err != nil {
		return nil, err
	}
	set, err := parseKeySet(body, v.logger)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.jwksURI, err)
	}
	return set, nil
}

// startFetchLocked starts a shared key-set fetch, or returns the one under way. v.mu is held.
func (v *Verifier) startFetchLocked() *keySetFetch {
	if v.inflight != nil {
		return v.inflight
	}
	f := &keySetFetch{done: make(chan struct{})}
	v.inflight = f
	go func() {
		set, err := v.fetchKeySet(v.bgCtx)
		if err == nil {
			v.keys.Store(set)
			if v.cache != nil {
				v.cache.dropStale(set)
			}
			v.logger.Debug("key set refreshed", "url", v.jwksURI, "kids", set.kids())
		} else {
			// Keep serving the keys we have: an authority outage must not become ours.
			v.logger.Warn("key set refresh failed; keeping the cached keys", "error", err.Error())
		}
		f.err = err
		v.mu.Lock()
		v.inflight = nil
		v.mu.Unlock()
		close(f.done)
	}()
	return f
}

// refreshLoop refreshes the key set every refreshInterval, retrying sooner after a failure.
func (v *Verifier) refreshLoop() {
	defer close(v.bgDone)
	timer := time.NewTimer(v.refreshInterval)
	defer timer.Stop()
	for {
		select {
		case <-v.bgCtx.Done():
			return
		case <-timer.C:
		}
		v.mu.Lock()
		f := v.startFetchLocked()
		v.mu.Unlock()
		select {
		case <-v.bgCtx.Done():
			return
		case <-f.done:
		}
		next := v.refreshInterval
		if f.err != nil {
			next = min(v.refreshInterval, v.minRefreshInterval)
		}
		timer.Reset(next)
	}
}

// refreshForUnknownKid refreshes the key set because a token named a kid we do not have:
// keys rotate, and the new one may be published before our next scheduled refresh. Callers
// arriving while a fetch is under way wait for it instead of starting another, and a new
// fetch starts at most once per minRefreshInterval.
func (v *Verifier) refreshForUnknownKid(ctx context.Context, kid string) {
	v.mu.Lock()
	f := v.inflight
	if f == nil {
		now := v.now()
		if !v.lastKidRefresh.IsZero() && now.Sub(v.lastKidRefresh) < v.minRefreshInterval {
			v.mu.Unlock()
			return
		}
		v.lastKidRefresh = now
		v.logger.Debug("unknown kid: refreshing the key set", "kid", kid)
		f = v.startFetchLocked()
	}
	v.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
	}
}

// signingKeyFor returns the key for kid, refreshing the key set once if it is unknown.
func (v *Verifier) signingKeyFor(ctx context.Context, kid string) *signingKey {
	if k := v.keys.Load().get(kid); k != nil {
		return k
	}
	v.refreshForUnknownKid(ctx, kid)
	return v.keys.Load().get(kid)
}
