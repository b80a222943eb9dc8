package auth

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// Sign-in outcomes the CLI turns into exit code 3 (see ../shared/CLI.md).
var (
	// ErrNotSignedIn means no usable sign-in is cached: no account, no token for these
	// scopes, or a refresh token the authority refused (expired or revoked).
	ErrNotSignedIn = errors.New("not signed in")
	// ErrLoginDeclined means the user declined the sign-in on the verification page.
	ErrLoginDeclined = errors.New("sign-in was declined")
	// ErrLoginExpired means the device code expired before the user approved it.
	ErrLoginExpired = errors.New("the sign-in code expired before it was used")
	// ErrLoginCancelled means the caller's context ended while waiting (Ctrl-C).
	ErrLoginCancelled = errors.New("sign-in cancelled")
	// ErrLoginFailed wraps any other refusal by the authority (an OAuth error answer).
	ErrLoginFailed = errors.New("sign-in failed")
	// ErrAccountAmbiguous means several cached accounts match the authority: --account must
	// choose one. The message lists them.
	ErrAccountAmbiguous = errors.New("several cached accounts match")
)

// errNoScopes is a programming error of the caller: the CLI always computes scopes.
var errNoScopes = errors.New("no scopes to request")

// LoginConfig configures [NewLogin].
type LoginConfig struct {
	// Authority is https://host[:port]/<tenant>, with exactly one tenant segment.
	Authority string
	// ClientID is the public client (app registration) that signs the user in.
	ClientID string
	// Scopes requested; the command computes the default api://<api-client-id>/execute.
	// Silent and DeviceCode need at least one; Logout needs none.
	Scopes []string
	// CacheFile is the MSAL token cache; "" means [DefaultCacheFile].
	CacheFile string
	// CacheStore is where the tokens rest: [CacheStoreAuto] ("" too), [CacheStoreKeyring] or
	// [CacheStoreFile] (see [FileCache.UseStore]).
	CacheStore string
	// KeyStore keeps the cache's key; nil means [OSKeyStore]. Tests pass a fake.
	KeyStore KeyStore
	// Account selects among several cached accounts of the authority: a username
	// (preferred_username, case-insensitive) or a home account ID.
	Account string
	// HTTPClient talks to the authority; it carries the --ca-file trust. Nil means a
	// client with the system roots.
	HTTPClient *http.Client
	// Prompt receives the device-code instructions (the CLI passes stderr, never stdout,
	// so that `token` output stays clean). Nil discards them.
	Prompt io.Writer
	// Logger receives debug and warning logs; never a token or code. Nil discards them.
	Logger *slog.Logger
	// OpenURL shows the sign-in page of [Login.Browser]; nil means [OpenBrowser] (the
	// $BROWSER command or the system's, and the URL on Prompt). Tests drive a browser here.
	OpenURL func(url string) error
}

// Token is an access token and who it belongs to.
type Token struct {
	AccessToken   string
	ExpiresOn     time.Time
	Username      string // preferred_username of the account
	HomeAccountID string // <oid>.<tid> for Entra
	TenantID      string // tid of the ID token, else the authority's tenant
	FromCache     bool   // served from the cache without a request to the authority
}

// Login signs a user in with MSAL Go (public client, device code flow) and keeps the
// tokens in a [FileCache]. It is safe for concurrent use; operations are serialised.
type Login struct {
	cfg       LoginConfig
	client    public.Client
	cache     *FileCache
	logger    *slog.Logger
	host      string // authority host[:port], lower case: the cache "environment"
	tenant    string // authority tenant segment, lower case: the cache "realm"
	microsoft bool   // Entra public cloud, where cache entries use environment aliases

	mu sync.Mutex // one MSAL operation at a time, so that Release ends the right one
}

// microsoftHosts are the environment aliases MSAL may store for the Entra public cloud
// (instance discovery maps login.microsoftonline.com to login.windows.net in the cache).
var microsoftHosts = []string{"login.microsoftonline.com", "login.windows.net", "login.microsoft.com", "sts.windows.net"}

// NewLogin builds the MSAL public client. Instance discovery, which asks
// login.microsoftonline.com about the authority, stays on only for that host: any other
// authority (the development authority, a sovereign or test host) must work offline and
// must not be revealed to Microsoft.
func NewLogin(cfg LoginConfig) (*Login, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("no client ID: set the client (public) app registration's ID")
	}
	u, err := url.Parse(cfg.Authority)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("authority must be a URL such as https://login.microsoftonline.com/<tenant>, not %q", cfg.Authority)
	}
	tenant := strings.Trim(u.Path, "/")
	if tenant == "" || strings.Contains(tenant, "/") {
		return nil, fmt.Errorf("authority needs exactly one tenant path segment, as in https://%s/<tenant>: %q", u.Host, cfg.Authority)
	}
	if cfg.CacheFile == "" {
		if cfg.CacheFile, err = DefaultCacheFile(); err != nil {
			return nil, err
		}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		// Codes and refresh tokens are posted through it: no redirect to another origin.
		httpClient = &http.Client{Timeout: 30 * time.Second, CheckRedirect: netx.CheckRedirect}
	}
	fc := NewFileCache(cfg.CacheFile, logger)
	store := cfg.KeyStore
	if store == nil && cfg.CacheStore != CacheStoreFile {
		store = OSKeyStore()
	}
	if err := fc.UseStore(cfg.CacheStore, store); err != nil {
		return nil, err
	}
	l := &Login{
		cfg:       cfg,
		cache:     fc,
		logger:    logger,
		host:      strings.ToLower(u.Host),
		tenant:    strings.ToLower(tenant),
		microsoft: strings.EqualFold(u.Hostname(), microsoftHosts[0]),
	}
	l.client, err = public.New(cfg.ClientID,
		public.WithAuthority(cfg.Authority),
		public.WithInstanceDiscovery(l.microsoft),
		public.WithHTTPClient(httpClient),
		public.WithCache(l.cache))
	if err != nil {
		return nil, fmt.Errorf("could not set up sign-in for %s: %w", cfg.Authority, err)
	}
	return l, nil
}

// CacheFile returns the path of the token cache in use.
func (l *Login) CacheFile() string { return l.cache.Path() }

// exclusive runs one MSAL operation that needs scopes: one at a time, with the cache's file
// lock released after it (the lock is held from the cache's read to its write, so that a
// concurrent process reuses a rotated refresh token instead of redeeming the same one).
func (l *Login) exclusive(op func() (*Token, error)) (*Token, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.cache.Release()
	if len(l.cfg.Scopes) == 0 {
		return nil, errNoScopes
	}
	return op()
}

// signedIn converts the result of an interactive sign-in and logs who signed in.
func (l *Login) signedIn(res public.AuthResult) *Token {
	tok := l.token(res)
	l.logger.Debug("signed in", "account", tok.Username, "expires", tok.ExpiresOn)
	return tok
}
