package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

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

// keySetTimeout bounds one key-set fetch.
const keySetTimeout = 30 * time.Second

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

// keySetFetch is one key-set fetch that concurrent callers wait on together.
type keySetFetch struct {
	done chan struct{}
	err  error
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

// fetchKeySet GETs and parses the key set once.
func (v *Verifier) fetchKeySet(ctx context.Context) (*keySet, error) {
	v.fetches.Add(1)
	body, err := getBounded(ctx, v.client, v.jwksURI, keySetTimeout)
	if err != nil {
		return nil, err
	}
	set, err := parseKeySet(body, v.logger)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.jwksURI, err)
	}
	return set, nil
}

// startFetchLocked starts a shared key-set fetch, or returns the one under way. v.mu is held.
func (v *Verifier) startFetchLocked() *keySetFetch {
	if v.inflight != nil {
		return v.inflight
	}
	f := &keySetFetch{done: make(chan struct{})}
	v.inflight = f
	go func() {
		set, err := v.fetchKeySet(v.bgCtx)
		if err == nil {
			v.keys.Store(set)
			if v.cache != nil {
				v.cache.dropStale(set)
			}
			v.logger.Debug("key set refreshed", "url", v.jwksURI, "kids", set.kids())
		} else {
			// Keep serving the keys we have: an authority outage must not become ours.
			v.logger.Warn("key set refresh failed; keeping the cached keys", "error", err.Error())
		}
		f.err = err
		v.mu.Lock()
		v.inflight = nil
		v.mu.Unlock()
		close(f.done)
	}()
	return f
}

// refreshLoop refreshes the key set every refreshInterval, retrying sooner after a failure.
func (v *Verifier) refreshLoop() {
	defer close(v.bgDone)
	timer := time.NewTimer(v.refreshInterval)
	defer timer.Stop()
	for {
		select {
		case <-v.bgCtx.Done():
			return
		case <-timer.C:
		}
		v.mu.Lock()
		f := v.startFetchLocked()
		v.mu.Unlock()
		select {
		case <-v.bgCtx.Done():
			return
		case <-f.done:
		}
		next := v.refreshInterval
		if f.err != nil {
			next = min(v.refreshInterval, v.minRefreshInterval)
		}
		timer.Reset(next)
	}
}

// refreshForUnknownKid refreshes the key set because a token named a kid we do not have:
// keys rotate, and the new one may be published before our next scheduled refresh. Callers
// arriving while a fetch is under way wait for it instead of starting another, and a new
// fetch starts at most once per minRefreshInterval.
func (v *Verifier) refreshForUnknownKid(ctx context.Context, kid string) {
	v.mu.Lock()
	f := v.inflight
	if f == nil {
		now := v.now()
		if !v.lastKidRefresh.IsZero() && now.Sub(v.lastKidRefresh) < v.minRefreshInterval {
			v.mu.Unlock()
			return
		}
		v.lastKidRefresh = now
		v.logger.Debug("unknown kid: refreshing the key set", "kid", kid)
		f = v.startFetchLocked()
	}
	v.mu.Unlock()
	select {
	case <-f.done:
	case <-ctx.Done():
	}
}

// signingKeyFor returns the key for kid, refreshing the key set once if it is unknown.
func (v *Verifier) signingKeyFor(ctx context.Context, kid string) *signingKey {
	if k := v.keys.Load().get(kid); k != nil {
		return k
	}
	v.refreshForUnknownKid(ctx, kid)
	return v.keys.Load().get(kid)
}

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

// tokenHeader is the part of the JOSE header Verify reads. Headers that would point at other
// keys (jku, jwk, x5u, x5c) are ignored on purpose: only the configured key set is trusted.
type tokenHeader struct {
	Alg  string
	Kid  string
	Crit json.RawMessage
}

// field returns where the header parameter name is decoded, nil to skip it. Names match
// exactly (RFC 7515 section 4: parameter names are case-sensitive).
func (h *tokenHeader) field(name []byte) any {
	switch string(name) {
	case "alg":
		return &h.Alg
	case "kid":
		return &h.Kid
	case "crit":
		return &h.Crit
	}
	return nil
}

// tokenClaims are the claims Verify reads, decoded once, straight into typed fields by
// decodeObject, which matches names exactly.
type tokenClaims struct {
	Iss, Sub, Oid, Tid, Azp, AppID, Name, PreferredUsername, Upn, UniqueName, Scp, Scope, Ver string

	Aud, Roles    stringList
	Exp, Nbf, Iat numericDate
}

// field returns where the claim name is decoded, nil to skip it. Claim names are
// case-sensitive (RFC 7519 section 10.1.1): "AUD" is not "aud".
func (c *tokenClaims) field(name []byte) any {
	switch string(name) { // no allocation: the compiler compares the bytes
	case "iss":
		return &c.Iss
	case "sub":
		return &c.Sub
	case "aud":
		return &c.Aud
	case "exp":
		return &c.Exp
	case "nbf":
		return &c.Nbf
	case "iat":
		return &c.Iat
	case "oid":
		return &c.Oid
	case "tid":
		return &c.Tid
	case "azp":
		return &c.Azp
	case "appid":
		return &c.AppID
	case "name":
		return &c.Name
	case "preferred_username":
		return &c.PreferredUsername
	case "upn":
		return &c.Upn
	case "unique_name":
		return &c.UniqueName
	case "scp":
		return &c.Scp
	case "scope":
		return &c.Scope
	case "roles":
		return &c.Roles
	case "ver":
		return &c.Ver
	}
	return nil
}

// decodeObject decodes the JSON object b member by member, each into field(name) (skipped when
// nil), and refuses an object that names a member twice in any case, with the description
// `token repeats the <what> "<name>"`. Other failures return a TokenError with an empty
// Description for the caller to fill.
//
// Why not json.Unmarshal into a tagged struct: encoding/json matches names case-insensitively
// (with Unicode folding: "ſub" matches "sub") and lets a later member win, so a signed payload
// of "aud":"other-api", ..., "AUD":"<ours>" would pass the audience check, and "SCP" would
// override "scp". The issuer signed the whole payload, but a payload that names a claim twice
// reads differently to different parsers, and the safe answer is to refuse it.
func decodeObject(b []byte, what string, field func(name []byte) any) *TokenError {
	// Validated first, so that the scan below can take the syntax for granted; json.Valid
	// also refuses trailing data after the object.
	if !json.Valid(b) {
		return &TokenError{Reason: ReasonMalformed}
	}
	i := skipSpace(b, 0)
	if b[i] != '{' {
		return &TokenError{Reason: ReasonMalformed}
	}
	i++
	// The names as written, in order (slices of b unless escaped); a token has a few dozen.
	names := make([][]byte, 0, 32)
	for {
		i = skipSpace(b, i)
		switch b[i] {
		case '}':
			return nil
		case ',':
			i = skipSpace(b, i+1)
		}
		end := skipString(b, i)
		name, err := memberName(b[i:end])
		if err != nil {
			return &TokenError{Reason: ReasonMalformed}
		}
		i = skipSpace(b, end) + 1 // the colon
		i = skipSpace(b, i)
		vend := skipValue(b, i)
		// Quadratic, but only over the member names of a payload whose signature checked out,
		// and without the allocations a map of folded names would cost on every token.
		for _, first := range names {
			if sameFolded(first, name) {
				shown := safeName(first, field)
				if shown == "?" {
					shown = safeName(name, field)
				}
				return tokenErr(ReasonMalformed, "token repeats the "+what+" "+strconv.Quote(shown))
			}
		}
		names = append(names, name)
		if dst := field(name); dst != nil {
			if err := decodeValue(b[i:vend], dst); err != nil {
				return &TokenError{Reason: ReasonMalformed}
			}
		}
		i = vend
	}
}

// memberName decodes a quoted member name; only names with escapes go through encoding/json.
func memberName(quoted []byte) ([]byte, error) {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return quoted[1 : len(quoted)-1], nil
	}
	var s string
	err := json.Unmarshal(quoted, &s)
	return []byte(s), err
}

// decodeValue decodes one member's JSON value into dst. A plain string (no escape, valid
// UTF-8: what encoding/json would copy unchanged) is copied directly, which is most claims;
// everything else goes through encoding/json.
func decodeValue(v []byte, dst any) error {
	switch d := dst.(type) {
	case *string:
		if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
			*d = string(v[1 : len(v)-1])
			return nil
		}
	case *numericDate:
		return d.UnmarshalJSON(v)
	case *stringList:
		return d.UnmarshalJSON(v)
	}
	return json.Unmarshal(v, dst)
}

// The skip functions below walk JSON that json.Valid accepted; each returns the index just
// after the item that starts at i.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// sameFolded reports whether foldName(a) == foldName(b), without building either.
func sameFolded(a, b []byte) bool {
	for len(a) > 0 && len(b) > 0 {
		ra, na := utf8.DecodeRune(a)
		rb, nb := utf8.DecodeRune(b)
		if ra != rb && unicode.ToUpper(unicode.ToLower(ra)) != unicode.ToUpper(unicode.ToLower(rb)) {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) == 0 && len(b) == 0
}

// foldName folds a member name the way encoding/json does when it matches names to fields
// (ASCII upper case; other runes through unicode.ToUpper(unicode.ToLower(r))), so that every
// spelling encoding/json, or another lenient parser, would confuse counts as a repeat.
func foldName(name string) string {
	var sb strings.Builder
	sb.Grow(len(name))
	for _, r := range name {
		sb.WriteRune(unicode.ToUpper(unicode.ToLower(r)))
	}
	return sb.String()
}

// safeName is the repeated name as the error description shows it: the name Verify reads when
// it is one of those (whatever case the token used), else the name itself when it is short and
// plain, else "?". The description travels in a WWW-Authenticate header and a log line, so
// nothing the token chose goes there unchecked.
func safeName(nameBytes []byte, field func([]byte) any) string {
	name := string(nameBytes)
	if lower := strings.ToLower(foldName(name)); field([]byte(lower)) != nil {
		return lower
	}
	if len(name) == 0 || len(name) > 40 {
		return "?"
	}
	for _, r := range name {
		if !isNameChar(r) {
			return "?"
		}
	}
	return name
}

// isNameChar reports an ASCII letter, digit, '_', '-' or '.': the characters a claim name is
// quoted with in a message.
func isNameChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return r == '_' || r == '-' || r == '.'
}

// verifyUncached does the full verification.
func (v *Verifier) verifyUncached(ctx context.Context, token string, now time.Time) (*Identity, tokenTimes, *signingKey, *TokenError) {
	var times tokenTimes
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s64, '.') >= 0 || h64 == "" || p64 == "" {
		return nil, times, nil, tokenErr(ReasonMalformed, "token is not a JWT in compact form (header.payload.signature)")
	}
	hb, err := base64.RawURLEncoding.DecodeString(h64)
	if err != nil {
		return nil, times, nil, tokenErr(ReasonMalformed, "token header is not base64url")
	}
	var hdr tokenHeader
	if terr := decodeObject(hb, "header parameter", hdr.field); terr != nil {
		if terr.Description == "" {
			terr.Description = "token header is not a JSON object"
		}
		return nil, times, nil, terr
	}
	if hdr.Crit != nil {
		// RFC 7515 section 4.1.11: extensions we do not understand must be rejected.
		return nil, times, nil, tokenErr(ReasonMalformed, "token header lists critical extensions (crit), which are not supported")
	}
	alg := algorithms[hdr.Alg]
	if alg == nil {
		return nil, times, nil, tokenErr(ReasonUnsupportedAlgorithm, unsupportedAlgDescription(hdr.Alg))
	}
	if hdr.Kid == "" {
		return nil, times, nil, tokenErr(ReasonUnknownKey, "token header names no signing key (kid)")
	}
	key := v.signingKeyFor(ctx, hdr.Kid)
	if key == nil {
		return nil, times, nil, tokenErr(ReasonUnknownKey, "token signed by an unknown key")
	}
	// The algorithm comes from the token header (Entra's keys carry no alg), so it must be
	// one the key's type allows: an RSA key never verifies an ES256 or HS256 signature.
	if alg.kty != key.kty || (alg.curve != nil && alg.curve != key.curve) || (key.alg != "" && key.alg != hdr.Alg) {
		return nil, times, nil, tokenErr(ReasonUnsupportedAlgorithm, "token algorithm "+hdr.Alg+" does not match its signing key")
	}
	sig, err := base64.RawURLEncoding.DecodeString(s64)
	if err != nil || len(sig) == 0 {
		return nil, times, nil, tokenErr(ReasonBadSignature, "token signature is invalid")
	}
	if err := alg.verifier.Verify([]byte(token[:len(h64)+1+len(p64)]), sig, key.pub); err != nil {
		return nil, times, nil, tokenErr(ReasonBadSignature, "token signature is invalid")
	}

	// Only now, with the signature checked, are the claims trusted enough to read.
	pb, err := base64.RawURLEncoding.DecodeString(p64)
	if err != nil {
		return nil, times, nil, tokenErr(ReasonMalformed, "token payload is not base64url")
	}
	var c tokenClaims
	if terr := decodeObject(pb, "claim", c.field); terr != nil {
		if terr.Description == "" {
			terr.Description = "token claims are not a JSON object of the expected types"
		}
		return nil, times, nil, terr
	}
	if !slices.Contains(v.issuers, c.Iss) {
		return nil, times, nil, tokenErr(ReasonWrongIssuer, "token issuer is not accepted")
	}
	if want, bound := v.issuerTenants[c.Iss]; bound && !strings.EqualFold(c.Tid, want) {
		return nil, times, nil, tokenErr(ReasonWrongIssuer, "token issuer is not that of its tenant (tid)")
	}
	if !slices.ContainsFunc(c.Aud, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return nil, times, nil, tokenErr(ReasonWrongAudience, "token audience is not accepted")
	}
	if !c.Exp.set {
		return nil, times, nil, tokenErr(ReasonMissingExpiration, "token has no expiration (exp)")
	}
	times = tokenTimes{exp: c.Exp.t, nbf: c.Nbf.t, iat: c.Iat.t}
	if terr := checkTimes(now, v.skew, &times); terr != nil {
		return nil, times, nil, terr
	}
	// An exp years away (1e300 became the year 36812) makes a stolen token a permanent key.
	// Entra's longest-lived access tokens (continuous access evaluation) last about 28 hours,
	// so anything beyond maxLifetime was not minted by a sane authority. The skew is not added:
	// the limit is far above any real lifetime already.
	if c.Exp.t.Sub(now) > v.maxLifetime {
		return nil, times, nil, tokenErr(ReasonLifetimeTooLong, "token lifetime exceeds the accepted maximum")
	}
	// Sessions are bound to the user (oid, else sub): a token naming neither would open a
	// session bound to nobody, which the go-sdk lets any other token use, since it skips its
	// user check for an empty user ID.
	if c.Sub == "" && c.Oid == "" {
		return nil, times, nil, tokenErr(ReasonNoSubject, "token names no subject (sub or oid)")
	}
	id := &Identity{
		Subject:  c.Sub,
		ObjectID: c.Oid,
		TenantID: c.Tid,
		ClientID: firstNonEmpty(c.Azp, c.AppID),
		Name:     c.Name,
		Username: firstNonEmpty(c.PreferredUsername, c.Upn, c.UniqueName),
		Issuer:   c.Iss,
		Audience: []string(c.Aud),
		Scopes:   strings.Fields(firstNonEmpty(c.Scp, c.Scope)),
		Roles:    []string(c.Roles),
		Expiry:   c.Exp.t,
		KeyID:    hdr.Kid,
		Version:  c.Ver,
		Claims:   pb,
	}
	if len(id.Scopes) == 0 {
		id.Scopes = nil
	}
	return id, times, key, nil
}

// unsupportedAlgDescription names the algorithm only when it is a registered name: the
// header is attacker-controlled and the description ends up in a response header.
func unsupportedAlgDescription(alg string) string {
	switch {
	case alg == "":
		return "token header names no algorithm (alg)"
	case knownAlgorithmNames[alg]:
		return "token algorithm " + alg + " is not accepted (only RS*, PS* and ES* signatures are)"
	default:
		return "token algorithm is not supported (only RS*, PS* and ES* signatures are)"
	}
}

// tokenTimes are a token's validity times; a zero nbf or iat means absent.
type tokenTimes struct {
	exp, nbf, iat time.Time
}

// checkTimes applies exp, nbf and iat with skew. Cached and uncached verification share it so
// a cached token stops being accepted exactly when it would be rejected afresh.
func checkTimes(now time.Time, skew time.Duration, t *tokenTimes) *TokenError {
	if !now.Before(t.exp.Add(skew)) {
		return tokenErr(ReasonExpired, "token expired at "+t.exp.UTC().Format(time.RFC3339))
	}
	late := now.Add(skew)
	if !t.nbf.IsZero() && late.Before(t.nbf) {
		return tokenErr(ReasonNotYetValid, "token is not valid before "+t.nbf.UTC().Format(time.RFC3339))
	}
	if !t.iat.IsZero() && late.Before(t.iat) {
		return tokenErr(ReasonNotYetValid, "token was issued in the future ("+t.iat.UTC().Format(time.RFC3339)+"); check the clocks")
	}
	return nil
}

func tokenErr(r Reason, desc string) *TokenError {
	return &TokenError{Reason: r, Description: desc}
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// clone returns a copy the caller may modify without touching the cache.
func (id *Identity) clone() *Identity {
	c := *id
	c.Audience = slices.Clone(id.Audience)
	c.Scopes = slices.Clone(id.Scopes)
	c.Roles = slices.Clone(id.Roles)
	return &c
}

// stringList decodes a JSON string or array of strings (aud may be either, RFC 7519 4.1.3).
type stringList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *stringList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = stringList{s}
		return nil
	}
	if string(b) == "null" {
		*l = nil
		return nil
	}
	var a []string
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	*l = a
	return nil
}

// numericDate decodes a JWT NumericDate (seconds since the epoch, possibly fractional).
type numericDate struct {
	t   time.Time
	set bool
}

// maxNumericDate keeps absurd dates representable instead of wrapping around.
const maxNumericDate = 1 << 40

// UnmarshalJSON implements json.Unmarshaler.
func (d *numericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = numericDate{}
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("NumericDate is not a number")
	}
	f = math.Max(-maxNumericDate, math.Min(maxNumericDate, f))
	sec, frac := math.Modf(f)
	d.t = time.Unix(int64(sec), int64(frac*1e9))
	d.set = true
	return nil
}

// cachedIdentity is a verified token's result, kept so a repeated token skips the signature
// check. It holds no token: the cache is keyed by the token's SHA-256.
type cachedIdentity struct {
	id         Identity // KeyID names the signing key
	times      tokenTimes
	thumbprint string // of the signing key, to notice that key leaving or changing
}

// verifiedCache is a bounded map of verified tokens. Reads share a read lock; when full, it
// drops expired entries and then arbitrary ones, which is enough for a cache that only saves
// work and keeps memory bounded.
type verifiedCache struct {
	mu      sync.RWMutex
	max     int
	entries map[[sha256.Size]byte]*cachedIdentity
}

func newVerifiedCache(size int) *verifiedCache {
	return &verifiedCache{max: size, entries: make(map[[sha256.Size]byte]*cachedIdentity)}
}

func (c *verifiedCache) get(k [sha256.Size]byte) *cachedIdentity {
	c.mu.RLock()
	e := c.entries[k]
	c.mu.RUnlock()
	return e
}

func (c *verifiedCache) remove(k [sha256.Size]byte) {
	c.mu.Lock()
	delete(c.entries, k)
	c.mu.Unlock()
}

// put stores e, evicting first when the cache is full: expired entries, then, if still over
// seven eighths full, arbitrary ones (Go map order), so eviction work is amortised.
func (c *verifiedCache) put(k [sha256.Size]byte, e *cachedIdentity, now time.Time, skew time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		for key, old := range c.entries {
			if !now.Before(old.times.exp.Add(skew)) {
				delete(c.entries, key)
			}
		}
		for key := range c.entries {
			if len(c.entries) < c.max-c.max/8 {
				break
			}
			delete(c.entries, key)
		}
	}
	c.entries[k] = e
}

// dropStale removes the entries whose signing key is no longer in set (or whose kid now names
// different key material): a key withdrawn by the authority must stop vouching for tokens.
func (c *verifiedCache) dropStale(set *keySet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, e := range c.entries {
		if k := set.get(e.id.KeyID); k == nil || k.thumbprint != e.thumbprint {
			delete(c.entries, key)
		}
	}
}

// len returns the number of entries (tests).
func (c *verifiedCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}
