package devauthority

import (
	"strings"
	"time"
)

// refreshGrant is what a refresh token stands for: the consent given once (client, scopes)
// and the family of rotated tokens it belongs to.
type refreshGrant struct {
	clientID string
	scopes   *scopeRequest // the consented request
	family   string        // shared by every token rotated from one sign-in
	expires  time.Time
}

// refreshStore keeps refresh tokens by their hash. Tokens rotate: each redemption retires the
// token and returns a new one. Presenting a retired token again is treated as theft (OAuth
// 2.0 Security BCP, RFC 9700 section 4.14.2): the whole family is revoked.
type refreshStore struct {
	// Keys are hashToken values: the store, in memory or in refresh_tokens.json, holds no
	// token that could be redeemed. SHA-256 without salt suffices for 256-bit random tokens.
	live map[string]*refreshGrant // hash -> grant
	used map[string]retired       // hash -> family, for reuse detection
	// used and revoked entries are kept until the token would have expired anyway: after
	// that, the token is refused as unknown, whatever the store remembered.
	revoked map[string]time.Time // hash -> when to forget it
	// dirty is set by every change a restart must see (issue, retire, revoke) and cleared
	// by a successful save. Forgetting expired entries does not set it: load prunes them too.
	dirty bool
}

// retired is a rotated-out token: the family to revoke if it comes back, and until when
// that matters.
type retired struct {
	family string
	until  time.Time
}

// newRefreshStore returns an empty store.
func newRefreshStore() *refreshStore {
	return &refreshStore{live: map[string]*refreshGrant{}, used: map[string]retired{}, revoked: map[string]time.Time{}}
}

// issue stores g and returns a new refresh token for it.
func (s *refreshStore) issue(g *refreshGrant) string {
	rt := "dev." + randomToken(32)
	s.live[hashToken(rt)] = g
	s.dirty = true
	return rt
}

// peek returns the live grant of rt, or the Entra-shaped reason it is unusable.
func (s *refreshStore) peek(rt string, now time.Time) (*refreshGrant, *oauthError) {
	h := hashToken(rt)
	if g, ok := s.live[h]; ok {
		if now.After(g.expires) {
			delete(s.live, h)
			// Each rotation gives a new 90-day token, so this is expiry through inactivity.
			return nil, errInvalidGrant(aadstsExpiredGrant, "The refresh token has expired due to inactivity. Sign in again.")
		}
		return g, nil
	}
	if _, ok := s.revoked[h]; ok {
		return nil, errInvalidGrant(aadstsRevokedGrant, "The provided grant has expired due to it being revoked, a fresh auth token is needed. Sign in again.")
	}
	if u, ok := s.used[h]; ok {
		// A rotated-out token came back: someone holds a copy. Revoke its whole family.
		s.revokeFamily(u.family)
		return nil, errInvalidGrant(aadstsInvalidGrant, "The refresh token was already used; tokens issued from it are revoked. Sign in again.")
	}
	return nil, errInvalidGrant(aadstsInvalidGrant, "The provided refresh token is invalid or malformed. Sign in again.")
}

// retire moves rt from live to used.
func (s *refreshStore) retire(rt string) {
	h := hashToken(rt)
	if g, ok := s.live[h]; ok {
		delete(s.live, h)
		s.used[h] = retired{family: g.family, until: g.expires}
		s.dirty = true
	}
}

// revokeFamily revokes every live token of a family.
// Revoked tokens are remembered, so that their holder is told "revoked" (sign in again)
// rather than "invalid", as Entra distinguishes them.
func (s *refreshStore) revokeFamily(family string) {
	for h, g := range s.live {
		if g.family == family {
			delete(s.live, h)
			s.revoked[h] = g.expires
			s.dirty = true
		}
	}
}

// revokeAll revokes every live refresh token.
func (s *refreshStore) revokeAll() {
	for h, g := range s.live {
		delete(s.live, h)
		s.revoked[h] = g.expires
		s.dirty = true
	}
}

// prune forgets expired tokens.
func (s *refreshStore) prune(now time.Time) {
	for h, g := range s.live {
		if now.After(g.expires) {
			delete(s.live, h)
		}
	}
	for h, u := range s.used {
		if now.After(u.until) {
			delete(s.used, h)
		}
	}
	for h, t := range s.revoked {
		if now.After(t) {
			delete(s.revoked, h)
		}
	}
}

// allows reports whether the consented scopes cover the requested API scopes.
func (g *refreshGrant) allows(req *scopeRequest) bool {
	for _, n := range req.api {
		found := false
		for _, c := range g.scopes.api {
			if strings.EqualFold(n, c) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
