package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// TokenFetch gets an access token from wherever it comes from (the MSAL cache, a client
// credentials grant, a fixed value). force asks for a token newer than the last one, because a
// resource server rejected it: a refresh grant even though the cached token has not expired.
// Its error text may reach a user and a log: it must say what to do and never hold a token.
type TokenFetch func(ctx context.Context, force bool) (*Token, error)

// RefreshLeeway is how long before its expiry a held token is replaced: a token must not
// expire between the client sending it and the server checking it.
const RefreshLeeway = 2 * time.Minute

// ForcedRefreshInterval is the least time between two refreshes forced by a rejection: enough
// for one refresh per burst of 401s, few enough grants to keep the authority from throttling
// the user when a server rejects every token (a wrong audience).
const ForcedRefreshInterval = 10 * time.Second

// ErrStaticTokenRejected is the refresh error of a fixed token (--token, FASTMCP_AUTH_TOKEN)
// that a server rejected: nothing can refresh it.
var ErrStaticTokenRejected = errors.New("a token given with --token or FASTMCP_AUTH_TOKEN cannot be refreshed: " +
	"pass a valid one, or unset it to use the cache of `fastmcp-auth login`")

// TokenSupply hands out a current bearer token: the one MCP client (`call`, `tools`), the
// stdio proxy and later the gateway's upstream calls share. It holds the token in memory,
// fetches a new one when it has none or the held one expires within [RefreshLeeway] (a silent
// MSAL call refreshes it), and, after a server rejected the held token (401), forces a
// refresh at most once per [ForcedRefreshInterval]. Concurrent callers share one fetch. It is
// safe for concurrent use. A nil *TokenSupply supplies no token (--no-auth).
type TokenSupply struct {
	fetch    TokenFetch
	now      func() time.Time
	interval time.Duration

	mu         sync.Mutex // held across fetch, so that concurrent callers wait for one fetch
	tok        *Token
	lastForced time.Time
	forcedErr  error // the failure of the last forced refresh, until a fetch succeeds
}

// NewTokenSupply returns a supply that gets its tokens from fetch. A token with a zero
// ExpiresOn is kept until a server rejects it.
func NewTokenSupply(fetch TokenFetch) *TokenSupply {
	return &TokenSupply{fetch: fetch, now: time.Now, interval: ForcedRefreshInterval}
}

// NewLoginSupply is the supply of the MSAL sign-in l: [Login.Silent] normally (the cached token
// while valid, else a refresh grant), [Login.Refresh] when forced. "Not signed in" errors say
// to run `fastmcp-auth login`. It never prompts. first, when not nil, is a token the caller
// just got from l (a sign-in), handed out until it nears its expiry.
func NewLoginSupply(l *Login, first *Token) *TokenSupply {
	return loginSupply(func(ctx context.Context, force bool) (*Token, error) {
		if force {
			return l.Refresh(ctx)
		}
		return l.Silent(ctx)
	}, first)
}

// loginSupply is NewLoginSupply on any fetch: "not signed in" errors say to sign in.
func loginSupply(get TokenFetch, first *Token) *TokenSupply {
	s := NewTokenSupply(func(ctx context.Context, force bool) (*Token, error) {
		tok, err := get(ctx, force)
		if errors.Is(err, ErrNotSignedIn) {
			return nil, fmt.Errorf("%w; run `fastmcp-auth login`", err)
		}
		return tok, err
	})
	s.tok = first
	return s
}

// StaticToken is the supply of a fixed token (--token, FASTMCP_AUTH_TOKEN, a token obtained
// by a sign-in just before). A forced refresh fails with [ErrStaticTokenRejected] rather than
// returning the rejected token again. An empty token gives nil: no Authorization header.
func StaticToken(token string) *TokenSupply {
	if token == "" {
		return nil
	}
	return NewTokenSupply(func(_ context.Context, force bool) (*Token, error) {
		if force {
			return nil, ErrStaticTokenRejected
		}
		return &Token{AccessToken: token}, nil
	})
}

// Token returns the current access token, fetching one when none is held or the held one
// expires within [RefreshLeeway].
func (s *TokenSupply) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh() {
		return s.tok.AccessToken, nil
	}
	return s.fetchLocked(ctx, false)
}

// Refresh returns a token to use instead of rejected, which a server refused (401). When
// another caller already replaced rejected, the replacement is returned without a request;
// otherwise a refresh is forced, unless one was forced less than [ForcedRefreshInterval] ago:
// then the supply answers without a grant (with that refresh's error if it failed, else
// usually the same token, and the caller gives up). A fixed token's refresh fails with
// [ErrStaticTokenRejected].
func (s *TokenSupply) Refresh(ctx context.Context, rejected string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh() && s.tok.AccessToken != rejected {
		return s.tok.AccessToken, nil
	}
	if t := s.now(); s.lastForced.IsZero() || t.Sub(s.lastForced) >= s.interval {
		s.lastForced = t
		tok, err := s.fetchLocked(ctx, true)
		s.forcedErr = err
		return tok, err
	}
	// A forced refresh failed moments ago (consent missing, signed out): its reason, not
	// the token the server just refused, answers the rejections that follow it.
	if s.forcedErr != nil {
		return "", s.forcedErr
	}
	if s.fresh() {
		return s.tok.AccessToken, nil
	}
	return s.fetchLocked(ctx, false)
}

// fresh reports whether the held token may still be sent. s.mu is held.
func (s *TokenSupply) fresh() bool {
	return s.tok != nil && s.tok.AccessToken != "" &&
		(s.tok.ExpiresOn.IsZero() || s.tok.ExpiresOn.Sub(s.now()) > RefreshLeeway)
}

// fetchLocked calls fetch and keeps its token. s.mu is held.
func (s *TokenSupply) fetchLocked(ctx context.Context, force bool) (string, error) {
	tok, err := s.fetch(ctx, force)
	if err != nil {
		return "", err
	}
	if tok == nil || tok.AccessToken == "" {
		return "", fmt.Errorf("%w: the sign-in gave an empty access token; run `fastmcp-auth login --force`", ErrNotSignedIn)
	}
	s.tok, s.forcedErr = tok, nil
	return tok.AccessToken, nil
}
