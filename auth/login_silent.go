package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
)

// Silent returns a cached access token, or redeems the cached refresh token for a new one.
// It never prompts. It returns an error wrapping [ErrNotSignedIn] when nothing usable is
// cached (including a refresh token the authority refused), [ErrAccountAmbiguous] when
// several accounts match and LoginConfig.Account is empty, and [ErrUnreachable] when the
// authority cannot be reached.
func (l *Login) Silent(ctx context.Context) (*Token, error) {
	return l.acquireSilent(ctx, false)
}

// forceRefreshClaims is the claims request [Login.Refresh] sends with the refresh grant: an
// empty JSON object, the OpenID Connect claims request (OIDC Core section 5.5) that asks for
// nothing beyond the defaults, so the new token has the same content as the rejected one.
//
// Why claims: MSAL Go v1.10.1 has no force-refresh option, but AcquireTokenSilent ignores
// cached access tokens whenever claims are given (apps/internal/base/base.go, "ignore cached
// access tokens when given claims"; documented by its maintainers in MSAL Go pull request
// 355: "can succeed for public clients that have a refresh token"), so the refresh token is
// redeemed through MSAL itself, with its cache update and rotation, instead of a hand-rolled
// grant. MSAL forwards the value verbatim as the claims form parameter; an empty object is a
// valid claims request that adds no requirement (a real claims challenge would name one).
const forceRefreshClaims = "{}"

// Refresh redeems the cached refresh token for a new access token even when the cached access
// token is still valid, and stores the result in the cache (with the rotated refresh token) so
// that every command sharing it gets the new token. Use it when a resource server rejected a
// token before its expiry (its key set rotated, the token was revoked); prefer [Login.Silent]
// otherwise, which spares the authority a request. It never prompts, and returns the errors
// of [Login.Silent]: [ErrNotSignedIn] when no refresh token is cached or the authority
// refused it (expired or revoked), [ErrUnreachable], [ErrAccountAmbiguous].
func (l *Login) Refresh(ctx context.Context) (*Token, error) {
	return l.acquireSilent(ctx, true)
}

// acquireSilent is Silent, or Refresh when force is set.
func (l *Login) acquireSilent(ctx context.Context, force bool) (*Token, error) {
	return l.exclusive(func() (*Token, error) {
		acct, err := l.pickAccount(ctx)
		if err != nil {
			return nil, err
		}
		opts := []public.AcquireSilentOption{public.WithSilentAccount(acct)}
		if force {
			opts = append(opts, public.WithClaims(forceRefreshClaims))
		}
		res, err := l.client.AcquireTokenSilent(ctx, l.cfg.Scopes, opts...)
		if err != nil {
			return nil, l.silentError(ctx, acct, err)
		}
		tok := l.token(res)
		l.logger.Debug("token acquired silently", "account", tok.Username, "from_cache", tok.FromCache, "forced", force, "expires", tok.ExpiresOn)
		return tok, nil
	})
}

// silentError classifies a failed AcquireTokenSilent.
func (l *Login) silentError(ctx context.Context, acct public.Account, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%w: %w", ErrLoginCancelled, ctxErr)
	}
	if errors.Is(err, ErrCache) {
		return err
	}
	if IsUnreachable(err) {
		return l.unreachable(err)
	}
	if oe, ok := loginOAuthError(err); ok {
		if oe.Error == "invalid_grant" || oe.Error == "interaction_required" {
			return fmt.Errorf("%w: the cached sign-in of %s has expired or was revoked", ErrNotSignedIn, loginAccountName(acct))
		}
		return fmt.Errorf("%w: could not refresh the token of %s: the authority answered %s", ErrLoginFailed, loginAccountName(acct), oe)
	}
	if strings.Contains(err.Error(), "no token found") {
		return fmt.Errorf("%w: no cached token of %s for scopes %s", ErrNotSignedIn, loginAccountName(acct), strings.Join(l.cfg.Scopes, " "))
	}
	return fmt.Errorf("%w: %s", ErrLoginFailed, loginSafeMessage(err))
}
