package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// AppConfig configures [NewAppSupply]: an app (confidential client) that gets app-only tokens
// with its own secret, for scripts and CI where no person signs in.
type AppConfig struct {
	// Authority is https://host[:port]/<tenant>.
	Authority string
	// ClientID is the app registration that holds the secret.
	ClientID string
	// Secret is the client secret. It is never logged nor put in an error.
	Secret string
	// Scopes are requested; for the client credentials grant, <app-id-uri>/.default.
	Scopes []string
	// HTTPClient talks to the authority (the --ca-file trust); nil means the system roots.
	HTTPClient *http.Client
}

// NewAppSupply returns the token supply of the client credentials grant ([RFC 6749] section
// 4.4, Entra: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow):
// app-only tokens (roles, no scp), which `serve` accepts through roles. The tokens live only in
// the supply's memory, never in a cache file: getting another costs one request with the
// secret the process already holds, and a file would put a second copy of a credential on
// disk. Every fetch, forced or not, asks the authority (MSAL's in-memory cache is not kept
// between fetches), since the supply already holds the token until it nears its expiry.
//
// [RFC 6749]: https://www.rfc-editor.org/rfc/rfc6749#section-4.4
func NewAppSupply(cfg AppConfig) (*TokenSupply, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("no client ID: the client credentials grant needs --client-id, the app that holds the secret")
	}
	if cfg.Secret == "" {
		return nil, errors.New("the client secret is empty")
	}
	if len(cfg.Scopes) == 0 {
		return nil, errNoScopes
	}
	u, err := url.Parse(cfg.Authority)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("authority must be a URL such as https://login.microsoftonline.com/<tenant>, not %q", cfg.Authority)
	}
	cred, err := confidential.NewCredFromSecret(cfg.Secret)
	if err != nil {
		return nil, fmt.Errorf("could not use the client secret: %w", err)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	microsoft := strings.EqualFold(u.Hostname(), microsoftHosts[0])
	return NewTokenSupply(func(ctx context.Context, _ bool) (*Token, error) {
		app, err := confidential.New(cfg.Authority, cfg.ClientID, cred,
			confidential.WithHTTPClient(hc), confidential.WithInstanceDiscovery(microsoft))
		if err != nil {
			return nil, fmt.Errorf("could not set up the client credentials grant for %s: %w", cfg.Authority, err)
		}
		res, err := app.AcquireTokenByCredential(ctx, cfg.Scopes)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: %w", ErrLoginCancelled, ctx.Err())
			}
			if IsUnreachable(err) {
				return nil, unreachableAuthority(cfg.Authority, err)
			}
			if oe, ok := loginOAuthError(err); ok {
				return nil, fmt.Errorf("%w: the client credentials grant of %s was refused: %s: check --client-id and the secret (--client-secret-file or FASTMCP_AUTH_CLIENT_SECRET)", ErrLoginFailed, cfg.ClientID, oe)
			}
			return nil, fmt.Errorf("%w: %s", ErrLoginFailed, loginSafeMessage(err))
		}
		return &Token{AccessToken: res.AccessToken, ExpiresOn: res.ExpiresOn, Username: cfg.ClientID}, nil
	}), nil
}
