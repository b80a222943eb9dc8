package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// cachedIdentity is a verified token's result, kept so a repeated token skips the signature
// check. It holds no token: the cache is keyed by the token's SHA-256.
type cachedIdentity struct {
	id         Identity // KeyID names the signing key
	times      tokenTimes
	thumbprint string // of the signing key, to notice that key leaving or changing
}

// verifiedCache is a bounded map of verified tokens. Reads share a read lock; when full, it
// drops expired entries and then arbitrary ones, which is enough for a cache that only saves
// work and keeps memory bounded.
type verifiedCache struct {
	mu      sync.RWMutex
	max     int
	entries map[[sha256.Size]byte]*cachedIdentity
}

func newVerifiedCache(size int) *verifiedCache {
	return &verifiedCache{max: size, entries: make(map[[sha256.Size]byte]*cachedIdentity)}
}

func (c *verifiedCache) get(k [sha256.Size]byte) *cachedIdentity {
	c.mu.RLock()
	e := c.entries[k]
	c.mu.RUnlock()
	return e
}

func (c *verifiedCache) remove(k [sha256.Size]byte) {
	c.mu.Lock()
	delete(c.entries, k)
	c.mu.Unlock()
}

// put stores e, evicting first when the cache is full: expired entries, then, if still over
// seven eighths full, arbitrary ones (Go map order), so eviction work is amortised.
func (c *verifiedCache) put(k [sha256.Size]byte, e *cachedIdentity, now time.Time, skew time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		for key, old := range c.entries {
			if !now.Before(old.times.exp.Add(skew)) {
				delete(c.entries, key)
			}
		}
		for key := range c.entries {
			if len(c.entries) < c.max-c.max/8 {
				break
			}
			delete(c.entries, key)
		}
	}
	c.entries[k] = e
}

// dropStale removes the entries whose signing key is no longer in set (or whose kid now names
// different key material): a key withdrawn by the authority must stop vouching for tokens.
func (c *verifiedCache) dropStale(set *keySet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, e := range c.entries {
		if k := set.get(e.id.KeyID); k == nil || k.thumbprint != e.thumbprint {
			delete(c.entries, key)
		}
	}
}

// len returns the number of entries (tests).
func (c *verifiedCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
