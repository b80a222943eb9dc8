package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// MaxTokenBytes is the largest bearer token Verify parses. Entra access tokens are a few KiB
// even with many groups; refusing bigger input before any decoding caps the work an
// unauthenticated caller can cause.
const MaxTokenBytes = 16 << 10

// Defaults of VerifierConfig.
const (
	DefaultRefreshInterval    = time.Hour
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultCacheSize          = 10000
	// DefaultMaxTokenLifetime is how far in the future an accepted exp may lie: Entra's
	// longest-lived access tokens (with continuous access evaluation) live about 28 hours.
	DefaultMaxTokenLifetime = 48 * time.Hour
)

// sentinelError is an exported sentinel that also matches another sentinel with errors.Is.
type sentinelError struct {
	msg  string
	also error
}

func (e *sentinelError) Error() string { return e.msg }
func (e *sentinelError) Unwrap() error { return e.also }

// ErrKeySetUnavailable is wrapped by NewVerifier when the initial key-set fetch fails. It
// matches ErrUnreachable too, so the CLI exits 4; the error names the key-set URL.
var ErrKeySetUnavailable error = &sentinelError{msg: "signing key set unavailable", also: ErrUnreachable}

// VerifierConfig configures NewVerifier. JWKSURI, Issuers and Audiences are required.
type VerifierConfig struct {
	// JWKSURI is the key set URL. It must be https, except for loopback hosts (a development
	// authority or a test server): keys fetched over plain HTTP could be swapped in transit.
	JWKSURI string
	// Issuers are the accepted iss values, compared exactly (see DefaultIssuers).
	Issuers []string
	// IssuerTenants binds issuers to tenants: a token whose iss is a key here must carry that
	// tenant ID in tid. A multi-tenant API (see AllowedTenantIssuers) sets it, so that a token
	// is accepted only when its tid is an allowed tenant and its iss is that tenant's own.
	IssuerTenants map[string]string
	// Audiences are the accepted aud values; one of the token's must match (see
	// DefaultAudiences). Checking aud is what stops a token minted for another API from
	// being replayed here.
	Audiences []string
	// ClockSkew is the leeway applied to exp, nbf and iat, for clocks that drift.
	ClockSkew time.Duration
	// HTTPClient fetches the key set; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Logger receives key-set events (refreshes, skipped keys, failures), never tokens;
	// nil discards them.
	Logger *slog.Logger
	// RefreshInterval is how often the key set is refreshed in the background, so rotated
	// keys are known before the first token signed with them arrives. Default 1h.
	RefreshInterval time.Duration
	// MinRefreshInterval limits refreshes caused by tokens naming an unknown kid to one per
	// interval, so a stream of forged kids cannot turn the server into a load generator
	// against the authority. Default 30s.
	MinRefreshInterval time.Duration
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
	// CacheSize bounds the cache of verified tokens. Default 10000; negative disables it.
	CacheSize int
	// MaxTokenLifetime refuses a token whose exp lies further than this after now, so that a
	// token minted with an absurd exp does not stay valid for ever. 0 means
	// DefaultMaxTokenLifetime (48h); it must not be negative.
	MaxTokenLifetime time.Duration
}

// Verifier checks Entra-style JWT access tokens against a cached, background-refreshed key
// set. It is safe for concurrent use. Call Close to stop its refresh goroutine.
type Verifier struct {
	jwksURI            string
	issuers            []string
	issuerTenants      map[string]string
	audiences          []string
	skew               time.Duration
	maxLifetime        time.Duration
	client             *http.Client
	logger             *slog.Logger
	refreshInterval    time.Duration
	minRefreshInterval time.Duration
	now                func() time.Time

	keys    atomic.Pointer[keySet]
	fetches atomic.Int64
	cache   *verifiedCache

	mu             sync.Mutex
	inflight       *keySetFetch // the key-set fetch under way, shared by all who need it
	lastKidRefresh time.Time    // when an unknown kid last caused a refresh

	bgCtx     context.Context
	bgCancel  context.CancelFunc
	bgDone    chan struct{}
	closeOnce sync.Once
}

// NewVerifier validates cfg and fetches the key set now, so a wrong or unreachable JWKS URI
// fails at startup rather than on the first request (the error wraps ErrKeySetUnavailable and
// names the URL). It then refreshes the key set in the background until Close.
func NewVerifier(ctx context.Context, cfg VerifierConfig) (*Verifier, error) {
	if err := checkJWKSURI(cfg.JWKSURI); err != nil {
		return nil, err
	}
	if len(cfg.Issuers) == 0 || slices.Contains(cfg.Issuers, "") {
		return nil, errors.New("token verifier: at least one non-empty issuer is required")
	}
	if len(cfg.Audiences) == 0 || slices.Contains(cfg.Audiences, "") {
		return nil, errors.New("token verifier: at least one non-empty audience is required")
	}
	if cfg.ClockSkew < 0 {
		return nil, errors.New("token verifier: clock skew must not be negative")
	}
	if cfg.MaxTokenLifetime < 0 {
		return nil, errors.New("token verifier: the maximum token lifetime must not be negative")
	}
	v := &Verifier{
		jwksURI:            cfg.JWKSURI,
		issuers:            slices.Clone(cfg.Issuers),
		issuerTenants:      maps.Clone(cfg.IssuerTenants),
		audiences:          slices.Clone(cfg.Audiences),
		skew:               cfg.ClockSkew,
		maxLifetime:        cfg.MaxTokenLifetime,
		client:             cfg.HTTPClient,
		logger:             cfg.Logger,
		refreshInterval:    cfg.RefreshInterval,
		minRefreshInterval: cfg.MinRefreshInterval,
		now:                cfg.Now,
		bgDone:             make(chan struct{}),
	}
	if v.client == nil {
		v.client = http.DefaultClient
	}
	if v.logger == nil {
		v.logger = slog.New(slog.DiscardHandler)
	}
	if v.refreshInterval <= 0 {
		v.refreshInterval = DefaultRefreshInterval
	}
	if v.minRefreshInterval <= 0 {
		v.minRefreshInterval = DefaultMinRefreshInterval
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxLifetime == 0 {
		v.maxLifetime = DefaultMaxTokenLifetime
	}
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size > 0 {
		v.cache = newVerifiedCache(size)
	}

	set, err := v.fetchKeySet(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeySetUnavailable, err)
	}
	v.keys.Store(set)
	v.logger.Info("key set loaded", "url", v.jwksURI, "kids", set.kids())

	// The background context is not derived from ctx: ctx may be a startup deadline, while
	// refreshes must go on for the verifier's whole life. Close stops them.
	v.bgCtx, v.bgCancel = context.WithCancel(context.WithoutCancel(ctx))
	go v.refreshLoop()
	return v, nil
}

// checkJWKSURI requires an absolute https URL, or http on a loopback host.
func checkJWKSURI(raw string) error {
	if raw == "" {
		return errors.New("token verifier: a key set URL (--jwks-uri) is required")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("token verifier: key set URL %q is not an absolute URL: set --jwks-uri to https://...", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if netx.IsLoopbackHost(u.Hostname()) {
			return nil
		}
	}
	return fmt.Errorf("token verifier: key set URL %s must use https (plain http is allowed only for loopback hosts)", raw)
}

// Close stops the background refresh. Verify keeps working with the keys it has.
func (v *Verifier) Close() {
	v.closeOnce.Do(func() {
		v.bgCancel()
		<-v.bgDone
	})
}

// KeySetFetches returns the number of key-set HTTP fetches so far, failed ones included.
func (v *Verifier) KeySetFetches() int64 { return v.fetches.Load() }

// Verify checks a bearer token and returns the identity it carries. Every error is a
// *TokenError (matching ErrInvalidToken) whose Reason says why, in a description that is
// safe to send to the client: it never contains the token or its claims.
//
// Checks, in order: size, compact JWS form, algorithm (asymmetric only, and allowed for the
// key type), key (kid, refreshing the key set once if unknown), signature, then claims: iss,
// aud, exp (required), nbf and iat with ClockSkew, exp at most MaxTokenLifetime away, sub or
// oid present. Claim names match exactly, and a payload naming a claim twice is refused. A
// token verified before is answered from a cache keyed by its SHA-256 until it expires or its
// signing key leaves the key set.
//
// Why our own JWS path (verifySignature, checkClaims) rather than jwx's jwt.Parse: a general
// JWT library decides from the token's header which keys and algorithms to try, decodes the
// claims as encoding/json does (names matched in any case, a repeated name silently winning;
// see decodeObject), and words failures its own way. Here the accepted algorithms per key
// type, the order of the checks, the refusal of repeated claims and the description a client
// sees are fixed in this package, and a forged token costs at most one signature check; jwx
// only parses the key set and computes the signature.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, error) {
	if len(token) > MaxTokenBytes {
		return nil, tokenErr(ReasonTooLarge, "token is larger than 16 KiB")
	}
	now := v.now()
	var sum [sha256.Size]byte
	if v.cache != nil {
		sum = tokenDigest(token)
		if e := v.cache.get(sum); e != nil {
			if k := v.keys.Load().get(e.id.KeyID); k != nil && k.thumbprint == e.thumbprint {
				if terr := checkTimes(now, v.skew, &e.times); terr != nil {
					return nil, terr
				}
				return e.id.clone(), nil
			}
			v.cache.remove(sum)
		}
	}
	id, times, key, terr := v.verifyUncached(ctx, token, now)
	if terr != nil {
		return nil, terr
	}
	if v.cache != nil {
		v.cache.put(sum, &cachedIdentity{id: *id, times: times, thumbprint: key.thumbprint}, now, v.skew)
	}
	return id.clone(), nil
}

// tokenDigest returns the SHA-256 of token, the verified cache's key (so the cache holds
// no token). It copies through a small stack buffer: []byte(token) would put a copy of
// every token on the heap, which dominated the cost of a cache hit.
func tokenDigest(token string) [sha256.Size]byte {
	h := sha256.New()
	var buf [512]byte
	for len(token) > 0 {
		n := copy(buf[:], token)
		h.Write(buf[:n])
		token = token[n:]
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
