package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
)

// Logout removes the cached accounts of this authority and tenant (only LoginConfig.Account
// when set) with their tokens, and returns their usernames. Nothing cached is not an error:
// the result is empty. It makes no network request.
func (l *Login) Logout(ctx context.Context) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.cache.Release()
	accts, err := l.client.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, a := range l.matching(accts) {
		if err := l.client.RemoveAccount(ctx, a); err != nil {
			return removed, err
		}
		removed = append(removed, loginAccountName(a))
	}
	return removed, nil
}

// pickAccount chooses the cached account for the authority, tenant and --account.
func (l *Login) pickAccount(ctx context.Context) (public.Account, error) {
	accts, err := l.client.Accounts(ctx)
	if err != nil {
		return public.Account{}, err
	}
	m := l.matching(accts)
	switch {
	case len(m) == 1:
		return m[0], nil
	case len(m) == 0 && l.cfg.Account != "":
		return public.Account{}, fmt.Errorf("%w: no cached account %q for %s", ErrNotSignedIn, l.cfg.Account, l.cfg.Authority)
	case len(m) == 0:
		return public.Account{}, fmt.Errorf("%w: no cached account for %s", ErrNotSignedIn, l.cfg.Authority)
	default:
		names := make([]string, len(m))
		for i, a := range m {
			names[i] = fmt.Sprintf("%s (%s)", loginAccountName(a), a.HomeAccountID)
		}
		return public.Account{}, fmt.Errorf("%w %s: choose one with --account: %s", ErrAccountAmbiguous, l.cfg.Authority, strings.Join(names, ", "))
	}
}

// matching filters accounts to this authority's host:port (MSAL's "environment", which
// includes the port) and tenant ("realm"), then to LoginConfig.Account when set.
func (l *Login) matching(accts []public.Account) []public.Account {
	var out []public.Account
	for _, a := range accts {
		env := strings.ToLower(a.Environment)
		if env != l.host && (!l.microsoft || !slices.Contains(microsoftHosts, env)) {
			continue
		}
		if !strings.EqualFold(a.Realm, l.tenant) {
			continue
		}
		if want := l.cfg.Account; want != "" && !strings.EqualFold(a.PreferredUsername, want) && a.HomeAccountID != want {
			continue
		}
		out = append(out, a)
	}
	return out
}

// loginAccountName names an account for messages: its username, else its home account ID.
func loginAccountName(a public.Account) string {
	if a.PreferredUsername != "" {
		return a.PreferredUsername
	}
	return a.HomeAccountID
}

// token converts an MSAL result; the tenant is the ID token's, else the account's realm.
func (l *Login) token(res public.AuthResult) *Token {
	tid := res.IDToken.TenantID
	if tid == "" {
		tid = res.Account.Realm
	}
	return &Token{
		AccessToken:   res.AccessToken,
		ExpiresOn:     res.ExpiresOn,
		Username:      loginAccountName(res.Account),
		HomeAccountID: res.Account.HomeAccountID,
		TenantID:      tid,
		FromCache:     res.Metadata.TokenSource == public.TokenSourceCache,
	}
}
