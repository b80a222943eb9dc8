package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
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
	l.mu.Lock()
	defer l.mu.Unlock()
	// The lock is held from Accounts' read to the refresh's write: a concurrent process
	// then reuses the rotated refresh token instead of redeeming the same one.
	defer l.cache.Release()
	if len(l.cfg.Scopes) == 0 {
		return nil, errNoScopes
	}
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
}

// DeviceCode signs the user in with the device code flow ([RFC 8628]): it writes the
// instructions (MSAL's message, or the verification URL and user code) to
// LoginConfig.Prompt and waits until the user approves, declines, the code expires or ctx
// ends. Errors wrap [ErrLoginDeclined], [ErrLoginExpired], [ErrLoginCancelled] (and the
// context's error), [ErrLoginFailed] or [ErrUnreachable].
//
// [RFC 8628]: https://www.rfc-editor.org/rfc/rfc8628
func (l *Login) DeviceCode(ctx context.Context) (*Token, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	defer l.cache.Release()
	if len(l.cfg.Scopes) == 0 {
		return nil, errNoScopes
	}
	dc, err := l.client.AcquireTokenByDeviceCode(ctx, l.cfg.Scopes)
	if err != nil {
		return nil, l.deviceError(ctx, err)
	}
	if l.cfg.Prompt != nil {
		msg := strings.TrimSpace(dc.Result.Message)
		if msg == "" {
			msg = fmt.Sprintf("To sign in, open %s and enter the code %s", dc.Result.VerificationURL, dc.Result.UserCode)
		}
		fmt.Fprintln(l.cfg.Prompt, msg)
	}
	// The device code itself is a bearer secret until redeemed: it is never logged.
	l.logger.Debug("waiting for device sign-in", "verification_uri", dc.Result.VerificationURL, "code_expires", dc.Result.ExpiresOn)
	res, err := dc.AuthenticationResult(ctx)
	if err != nil {
		return nil, l.deviceError(ctx, err)
	}
	tok := l.token(res)
	l.logger.Debug("signed in", "account", tok.Username, "expires", tok.ExpiresOn)
	return tok, nil
}

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

func loginAccountName(a public.Account) string {
	if a.PreferredUsername != "" {
		return a.PreferredUsername
	}
	return a.HomeAccountID
}

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

// deviceError classifies a failed device-code start or poll.
func (l *Login) deviceError(ctx context.Context, err error) error {
	if errors.Is(err, ErrCache) {
		return err
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("%w: %w", ErrLoginExpired, ctxErr)
		}
		return fmt.Errorf("%w: %w", ErrLoginCancelled, ctxErr)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// MSAL's own polling deadline: the device code's expires_in.
		return fmt.Errorf("%w: run fastmcp-auth login again and enter the code sooner", ErrLoginExpired)
	}
	if IsUnreachable(err) {
		return l.unreachable(err)
	}
	if oe, ok := loginOAuthError(err); ok {
		switch oe.Error {
		case "authorization_declined", "access_denied":
			return fmt.Errorf("%w: run fastmcp-auth login again to retry", ErrLoginDeclined)
		case "expired_token", "code_expired":
			return fmt.Errorf("%w: run fastmcp-auth login again and enter the code sooner", ErrLoginExpired)
		}
		return fmt.Errorf("%w: the authority answered %s", ErrLoginFailed, oe)
	}
	return fmt.Errorf("%w: %s", ErrLoginFailed, loginSafeMessage(err))
}

// unreachable names the authority and the transport failure, without MSAL's request dump.
func (l *Login) unreachable(err error) error {
	cause := err
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var uaErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &certErr):
		cause = certErr.Err
	case errors.As(err, &uaErr):
		cause = uaErr
	case errors.As(err, &hostErr):
		cause = hostErr
	case errors.As(err, &dnsErr):
		cause = dnsErr
	case errors.As(err, &opErr):
		cause = opErr.Err
	}
	hint := "check --authority and the network"
	if certErr != nil || uaErr.Cert != nil || hostErr.Certificate != nil {
		hint = "check --ca-file"
	}
	return &unreachableError{
		msg:   fmt.Sprintf("could not reach the authority %s: %v: %s", l.cfg.Authority, cause, hint),
		cause: err,
	}
}

// unreachableError is a one-line message that matches both ErrUnreachable and the
// transport error beneath it.
type unreachableError struct {
	msg   string
	cause error
}

func (e *unreachableError) Error() string   { return e.msg }
func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.cause} }

// loginOAuthErr is the JSON error answer of an OAuth endpoint.
type loginOAuthErr struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// String renders the code and the first sentence of the description (Entra appends trace
// and correlation IDs, which do not help the user).
func (e loginOAuthErr) String() string {
	d := e.Description
	if i := strings.Index(d, "Trace ID:"); i >= 0 {
		d = d[:i]
	}
	d = strings.TrimSpace(d)
	if d == "" {
		return e.Error
	}
	return e.Error + " (" + d + ")"
}

// loginOAuthError extracts the OAuth error answer from an MSAL error. MSAL has drained the
// response body by then (see ../shared/notes/msal-go.md), but its message carries the body.
func loginOAuthError(err error) (loginOAuthErr, bool) {
	var oe loginOAuthErr
	if !callErrorBody(err, &oe) || oe.Error == "" {
		return loginOAuthErr{}, false
	}
	return oe, true
}

// callErrorBody decodes into v the JSON body that an MSAL call error's message carries.
func callErrorBody(err error, v any) bool {
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) {
		return false
	}
	msg := err.Error()
	i := strings.Index(msg, "{")
	return i >= 0 && json.NewDecoder(strings.NewReader(msg[i:])).Decode(v) == nil
}

// loginSafeMessage shortens an MSAL error to its first line: later lines may carry a response
// body, and the first names the call.
func loginSafeMessage(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(strings.TrimSpace(s), ":")
}

// ErrNotJWT means an access token is opaque to the client (not a JWT it can decode), as
// some Microsoft first-party tokens are; [UnverifiedIdentity] cannot describe it.
var ErrNotJWT = errors.New("the access token is not a JWT the client can decode")

// UnverifiedIdentity decodes the claims of a JWT access token WITHOUT verifying its
// signature, issuer or audience. It exists for display (`whoami`) only: the client holding
// a token learns nothing trustworthy from it, and only the resource server's verification
// counts. Never base an access decision on its result.
func UnverifiedIdentity(accessToken string) (*Identity, error) {
	parts := strings.Split(accessToken, ".")
	if len(parts) != 3 {
		return nil, ErrNotJWT
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, ErrNotJWT
	}
	var c struct {
		Sub, Oid, Tid, Azp, Appid, Name, Iss, Ver, Scp, Scope, Upn string
		PreferredUsername                                          string          `json:"preferred_username"`
		Aud                                                        json.RawMessage `json:"aud"`
		Roles                                                      []string        `json:"roles"`
		Exp                                                        json.Number     `json:"exp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, ErrNotJWT
	}
	var header struct {
		Kid string `json:"kid"`
	}
	if h, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[0], "=")); err == nil {
		_ = json.Unmarshal(h, &header)
	}
	id := &Identity{
		Subject: c.Sub, ObjectID: c.Oid, TenantID: c.Tid, ClientID: c.Azp, Name: c.Name,
		Username: c.PreferredUsername, Issuer: c.Iss, Roles: c.Roles, KeyID: header.Kid, Version: c.Ver,
	}
	if id.ClientID == "" {
		id.ClientID = c.Appid
	}
	if id.Username == "" {
		id.Username = c.Upn
	}
	scp := c.Scp
	if scp == "" {
		scp = c.Scope
	}
	if scp != "" {
		id.Scopes = strings.Fields(scp)
	}
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		id.Audience = []string{one}
	} else {
		_ = json.Unmarshal(c.Aud, &id.Audience)
	}
	if f, err := c.Exp.Float64(); err == nil && f > 0 {
		id.Expiry = time.Unix(int64(f), 0).UTC()
	}
	return id, nil
}
