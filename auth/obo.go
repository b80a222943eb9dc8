package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// OBOConfig configures [NewOnBehalfOf]: the middle-tier API (this server's own app
// registration, a confidential client) exchanging its callers' tokens for tokens to one
// downstream resource.
type OBOConfig struct {
	// Authority is https://host[:port]/<tenant>. With organizations or common, each exchange
	// goes to the caller's own tenant (Entra wants the tenant-specific token endpoint for
	// On-Behalf-Of).
	Authority string
	// ClientID is the middle-tier API's application (client) ID: the aud of the tokens
	// exchanged (Entra answers AADSTS50013 otherwise).
	ClientID string
	// Secret is the API's client secret; give it or CertFile, not both. Never logged nor put
	// in an error.
	Secret string
	// CertFile is a PEM file holding the API's certificate and its unencrypted private key,
	// as MSAL Go's confidential.CertFromPEM reads it.
	CertFile string
	// Scopes are the downstream scopes, all of one resource (Entra issues a token for one
	// resource per request: AADSTS28000), e.g. https://graph.microsoft.com/User.Read.
	Scopes []string
	// HTTPClient talks to the authority (the --ca-file trust); nil means the system roots.
	HTTPClient *http.Client
	// Now is the cache's clock, time.Now by default (tests move it).
	Now func() time.Time
	// FailureTTL is how long a failed exchange is answered from the cache, so that a burst
	// of calls for a user who must consent costs the authority one request; 5s by default.
	FailureTTL time.Duration
	// MaxEntries bounds the cache (users); DefaultOBOMaxEntries by default.
	MaxEntries int
	// Logger receives one line per exchange (oid, tid, expiry; never a token); nil discards.
	Logger *slog.Logger
}

// Defaults of OBOConfig.
const (
	DefaultOBOFailureTTL = 5 * time.Second
	DefaultOBOMaxEntries = 10000
	// oboExchangeTimeout bounds one exchange: it runs detached from the caller that started
	// it (others may wait on it), so it needs a deadline of its own.
	oboExchangeTimeout = 30 * time.Second
)

// ErrOBOFailed is wrapped by exchange failures that are not the user's to fix (a wrong
// secret, a missing API permission, an unknown scope): the operator's.
var ErrOBOFailed = errors.New("on-behalf-of exchange failed")

// InteractionRequiredError is an exchange refused until the user (or an administrator)
// acts: consent missing (AADSTS65001, consent_required) or a Conditional Access policy such
// as multi-factor authentication that the user's sign-in does not meet (interaction_required,
// with a claims challenge). Entra documents that the middle tier must hand this back to the
// client, which alone can show the user a prompt:
// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-on-behalf-of-flow#error-response-example
// Its message says what to do in one line and never holds a token.
type InteractionRequiredError struct {
	// Code is "consent_required" or "interaction_required".
	Code string
	// AADSTS is Entra's error number (65001, 50076, 50079...), 0 when absent.
	AADSTS int
	// Claims is the claims challenge (JSON) the next sign-in must carry, when Entra sent one.
	Claims string
	// Scopes are the downstream scopes asked for.
	Scopes []string
}

// Interaction codes of [InteractionRequiredError].
const (
	CodeConsentRequired     = "consent_required"
	CodeInteractionRequired = "interaction_required"
)

// Error says what the user (or an administrator) must do.
func (e *InteractionRequiredError) Error() string {
	scopes := strings.Join(e.Scopes, " ")
	if e.Code == CodeConsentRequired {
		return "consent to " + scopes + " is required: an administrator grants admin consent for the API's permission, " +
			"or the user signs in again with prompt=consent"
	}
	return "the sign-in does not satisfy the tenant's Conditional Access policy (such as multi-factor authentication) for " + scopes +
		": sign in again (`fastmcp-auth login --force`) and complete every prompt, then retry"
}

// OnBehalfOf exchanges callers' tokens for downstream tokens with the On-Behalf-Of flow
// (OAuth 2.0 jwt-bearer grant, requested_token_use=on_behalf_of:
// https://learn.microsoft.com/entra/identity-platform/v2-oauth2-on-behalf-of-flow), through
// MSAL Go's confidential client (AcquireTokenOnBehalfOf), and caches the results itself (see
// obo_cache.go). It is safe for concurrent use.
type OnBehalfOf struct {
	cfg     OBOConfig
	clients oboClients
	multi   bool // the authority's tenant is organizations or common
	cache   oboCache
}

// NewOnBehalfOf validates cfg (client ID, exactly one credential, scopes of one resource)
// and builds the MSAL client. Its errors are configuration errors.
func NewOnBehalfOf(cfg OBOConfig) (*OnBehalfOf, error) {
	if cfg.ClientID == "" {
		return nil, errors.New("no client ID: On-Behalf-Of needs the API's own client ID (--api-client-id)")
	}
	if _, err := OBOResource(cfg.Scopes); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.Authority)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("authority must be a URL such as https://login.microsoftonline.com/<tenant>, not %q", cfg.Authority)
	}
	var cred confidential.Credential
	switch {
	case cfg.Secret != "" && cfg.CertFile != "":
		return nil, errors.New("give the API's client secret or its certificate, not both")
	case cfg.Secret != "":
		cred, err = confidential.NewCredFromSecret(cfg.Secret)
		if err != nil {
			return nil, fmt.Errorf("could not use the API's client secret: %w", err)
		}
	case cfg.CertFile != "":
		if cred, err = certCredential(cfg.CertFile); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("On-Behalf-Of needs the API's client secret or certificate")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FailureTTL <= 0 {
		cfg.FailureTTL = DefaultOBOFailureTTL
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultOBOMaxEntries
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	// MSAL keeps OBO tokens in an in-memory cache keyed by a hash of the incoming token and
	// never evicts them (apps/internal/base/base.go AuthResultFromToken writes to its
	// partitioned manager; accesstokens/tokens.go CacheKey uses AssertionHash). A cache
	// accessor cannot empty it (the partitioned manager's Unmarshal rejects every input), so
	// the client is replaced after oboClientUses exchanges, which bounds what it holds, and
	// a forced exchange uses a client of its own, whose empty cache makes MSAL ask Entra
	// rather than return the token the upstream just refused. Our own cache (obo_cache.go)
	// is the one that serves tokens.
	newClient := func() (confidential.Client, error) {
		return confidential.New(cfg.Authority, cfg.ClientID, cred,
			confidential.WithHTTPClient(hc),
			confidential.WithInstanceDiscovery(strings.EqualFold(u.Hostname(), microsoftHosts[0])))
	}
	client, err := newClient()
	if err != nil {
		return nil, fmt.Errorf("could not set up On-Behalf-Of for %s: %w", cfg.Authority, err)
	}
	o := &OnBehalfOf{
		cfg:     cfg,
		clients: oboClients{client: client, newClient: newClient},
		multi:   IsMultiTenant(AuthorityTenant(cfg.Authority)),
	}
	o.cache.init(cfg.Now, cfg.FailureTTL, cfg.MaxEntries)
	return o, nil
}

// certCredential reads a PEM file holding the certificate and its private key.
func certCredential(path string) (confidential.Credential, error) {
	data, err := os.ReadFile(path) //nolint:gosec // G304: the operator's own --api-client-cert-file
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("could not read the API's certificate: %w", err)
	}
	certs, key, err := confidential.CertFromPEM(data, "")
	if err != nil || len(certs) == 0 || key == nil {
		return confidential.Credential{}, fmt.Errorf("%s must hold the certificate and its unencrypted private key in PEM", path)
	}
	cred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		return confidential.Credential{}, fmt.Errorf("could not use the certificate in %s: %w", path, err)
	}
	return cred, nil
}

// oboClientUses is how many exchanges one MSAL client serves before it is replaced (with
// its cache): at most that many tokens are held by MSAL at a time.
const oboClientUses = 256

// oboClients hands out the MSAL client of an exchange (see NewOnBehalfOf).
type oboClients struct {
	newClient func() (confidential.Client, error)

	mu     sync.Mutex
	client confidential.Client
	uses   int
}

// get returns the shared client, replaced after oboClientUses exchanges, or a new one when
// fresh: a forced exchange must not be answered from MSAL's cache.
func (c *oboClients) get(fresh bool) (confidential.Client, error) {
	if fresh {
		return c.newClient()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.uses >= oboClientUses {
		cl, err := c.newClient()
		if err != nil {
			return confidential.Client{}, err
		}
		c.client, c.uses = cl, 0
	}
	c.uses++
	return c.client, nil
}

// Token returns a token for the configured scopes on behalf of id, whose verified token
// (issued for this API) is assertion. A cached token is returned while valid; force asks
// for a fresh exchange (the upstream answered 401). Concurrent calls for one user share one
// exchange; a failure is remembered for OBOConfig.FailureTTL. Errors that need the user are
// *[InteractionRequiredError].
func (o *OnBehalfOf) Token(ctx context.Context, id *Identity, assertion string, force bool) (*Token, error) {
	if id == nil || assertion == "" {
		return nil, errors.New("on-behalf-of: no verified caller token to exchange")
	}
	if id.AppOnly() {
		// Entra's OBO flow works for user principals only (the documentation's "Client
		// limitations"): refuse here rather than send an app's token to the authority.
		return nil, fmt.Errorf("%w: the caller's token is app-only (client credentials); On-Behalf-Of needs a user's token", ErrOBOFailed)
	}
	key := oboKey(id, o.cfg.Scopes)
	return o.cache.get(ctx, key, force, func(ctx context.Context) (*Token, error) {
		return o.exchange(ctx, id, assertion, force)
	})
}

// exchange runs one On-Behalf-Of grant.
func (o *OnBehalfOf) exchange(ctx context.Context, id *Identity, assertion string, fresh bool) (*Token, error) {
	client, err := o.clients.get(fresh)
	if err != nil {
		return nil, fmt.Errorf("could not set up On-Behalf-Of for %s: %w", o.cfg.Authority, err)
	}
	var opts []confidential.AcquireOnBehalfOfOption
	if o.multi && id.TenantID != "" {
		opts = append(opts, confidential.WithTenantID(id.TenantID))
	}
	res, err := client.AcquireTokenOnBehalfOf(ctx, assertion, o.cfg.Scopes, opts...)
	if err != nil {
		err = o.classifyError(ctx, err)
		o.cfg.Logger.Info("on-behalf-of exchange failed", "oid", id.ObjectID, "tid", id.TenantID, "error", err.Error())
		return nil, err
	}
	o.cfg.Logger.Info("on-behalf-of token obtained", "oid", id.ObjectID, "tid", id.TenantID, "exp", res.ExpiresOn.UTC().Format(time.RFC3339))
	return &Token{
		AccessToken:   res.AccessToken,
		ExpiresOn:     res.ExpiresOn,
		Username:      id.Username,
		HomeAccountID: id.ObjectID + "." + id.TenantID,
		TenantID:      id.TenantID,
	}, nil
}

// oboOAuthErr is the error body of Entra's token endpoint, with the fields that tell a
// user's action from an operator's: error_codes, suberror and claims.
type oboOAuthErr struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	SubError    string `json:"suberror"`
	Claims      string `json:"claims"`
}

// classifyError turns an MSAL error into one line: cancelled, unreachable, the user's to fix
// (*InteractionRequiredError) or the operator's (ErrOBOFailed).
func (o *OnBehalfOf) classifyError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("on-behalf-of exchange cancelled: %w", ctx.Err())
	}
	if IsUnreachable(err) {
		return unreachableAuthority(o.cfg.Authority, err)
	}
	oe, ok := parseOBOError(err)
	if !ok {
		return fmt.Errorf("%w: %s", ErrOBOFailed, loginSafeMessage(err))
	}
	aadsts := 0
	if len(oe.Codes) > 0 {
		aadsts = oe.Codes[0]
	}
	// AADSTS65001 comes as invalid_grant with suberror consent_required; Conditional Access
	// (AADSTS50076, 50079...) as interaction_required with a claims challenge.
	switch {
	case slices.Contains(oe.Codes, 65001) || oe.SubError == CodeConsentRequired || oe.Error == CodeConsentRequired:
		return &InteractionRequiredError{Code: CodeConsentRequired, AADSTS: aadsts, Claims: oe.Claims, Scopes: o.cfg.Scopes}
	case oe.Error == CodeInteractionRequired || oe.Claims != "":
		return &InteractionRequiredError{Code: CodeInteractionRequired, AADSTS: aadsts, Claims: oe.Claims, Scopes: o.cfg.Scopes}
	}
	desc := loginOAuthErr{Error: oe.Error, Description: oe.Description}.String()
	return fmt.Errorf("%w: the authority refused to exchange the caller's token for %s: %s: check --api-client-id, the API's secret or certificate, and its API permissions",
		ErrOBOFailed, strings.Join(o.cfg.Scopes, " "), desc)
}

// parseOBOError extracts Entra's error body from an MSAL call error (MSAL has drained the
// body, but its message carries it: ../shared/notes/msal-go.md section 2.3).
func parseOBOError(err error) (oboOAuthErr, bool) {
	var oe oboOAuthErr
	if !callErrorBody(err, &oe) || oe.Error == "" {
		return oboOAuthErr{}, false
	}
	return oe, true
}

// graphResource is the resource Entra resolves a scope without a prefix ("User.Read") to.
const graphResource = "https://graph.microsoft.com"

// OBOResource returns the one resource the scopes belong to, or an error naming two of
// them: Entra issues a token for one resource per request (AADSTS28000). A scope's resource
// is what precedes its last "/" (api://downstream/read, https://graph.microsoft.com/User.Read);
// a bare scope is Microsoft Graph's, as Entra reads it. OpenID scopes belong to none.
func OBOResource(scopes []string) (string, error) {
	resource := ""
	n := 0
	for _, s := range scopes {
		s = strings.TrimSpace(s)
		if s == "" || slices.Contains([]string{"openid", "profile", "offline_access", "email"}, strings.ToLower(s)) {
			continue
		}
		n++
		r := graphResource
		if i := strings.LastIndex(s, "/"); i >= 0 {
			r = s[:i]
		}
		if i := strings.LastIndex(s, "/"); i == len(s)-1 || r == "" {
			return "", fmt.Errorf("scope %q names no permission: give <resource>/<permission>, such as %s/User.Read", s, graphResource)
		}
		if resource != "" && !strings.EqualFold(strings.TrimRight(r, "/"), strings.TrimRight(resource, "/")) {
			return "", fmt.Errorf("the scopes name two resources, %s and %s: Entra issues a token for one resource per request (AADSTS28000); keep the scopes of one", resource, r)
		}
		if resource == "" {
			resource = r
		}
	}
	if n == 0 {
		return "", errors.New("no downstream scope: give one such as https://graph.microsoft.com/User.Read or api://<downstream-api>/<permission>")
	}
	return resource, nil
}
