package mcpproxy

import (
	"context"
	"sync"
	"time"
)

// FetchFunc gets an access token and its expiry, e.g. an MSAL silent call on the login cache.
// force asks for a token newer than the one returned last (the server rejected it).
type FetchFunc func(ctx context.Context, force bool) (token string, expiresOn time.Time, err error)

// RefreshLeeway is how long before its expiry a cached token is replaced: a token must not
// expire between the proxy sending it and the server checking it.
const RefreshLeeway = 2 * time.Minute

// NewCachedTokenSource returns a [TokenSource] that calls fetch only when it has no token, when
// the token expires within [RefreshLeeway], or when forced, so that relaying a message costs no
// cache-file read. Concurrent callers share one fetch. A zero expiry means "unknown": such a
// token is kept until the server rejects it.
func NewCachedTokenSource(fetch FetchFunc) TokenSource {
	var (
		mu      sync.Mutex
		token   string
		expires time.Time
	)
	// mu is held across fetch, so concurrent callers wait for one fetch instead of each
	// calling it. The token lives only here, in memory.
	return func(ctx context.Context, force bool) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		fresh := token != "" && (expires.IsZero() || time.Until(expires) > RefreshLeeway)
		if fresh && !force {
			return token, nil
		}
		t, exp, err := fetch(ctx, force)
		if err != nil {
			return "", err
		}
		token, expires = t, exp
		return token, nil
	}
}
