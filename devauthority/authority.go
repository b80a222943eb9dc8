// Package devauthority is a local, Entra-compatible OAuth 2.0 / OpenID Connect authority for
// development and tests: never for production. It speaks the Entra ID v2 endpoints MSAL uses
// (discovery, device code, token, key set, authorize), issues RS256 tokens shaped like Entra
// v2 tokens for one built-in user, serves HTTPS with its own CA, and listens on loopback only.
//
// It follows ../shared/notes/msal-go.md so that MSAL Go (the login command) works against it
// unchanged: one tenant path segment, an issuer with the authority's host and port, the
// device code URL derived from the token endpoint, HTTP 400 authorization_pending while a
// person has not approved yet, numeric expires_in, the requested scopes echoed in the form
// requested, unpadded base64url client_info and id_token.
//
// The approval page (/device, and /<tenant>/oauth2/v2.0/authorize) works without JavaScript.
// Browser tests can rely on these element IDs: input "user_code", buttons "continue",
// "approve" and "decline", and the result paragraph "result".
package devauthority

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// Defaults of Config. DefaultAddr is a fixed port rather than a free one because MSAL keys its
// token cache by the authority's host and port: a new port at every start would orphan every
// cached sign-in. DefaultTokenLifetime matches Entra's usual access token lifetime (about an
// hour), so expiry and refresh happen as often as they would in production.
const (
	DefaultAddr          = "127.0.0.1:8443"
	DefaultTenant        = "dev"
	DefaultAPIClientID   = "fastmcp-dev-api"
	DefaultTokenLifetime = time.Hour
)

// Lifetimes of the codes the authority hands out. They follow Entra ID and the RFCs: device
// codes live 15 minutes with a 5-second polling interval (RFC 8628 section 3.2, Entra's
// expires_in of 900), authorization codes at most 10 minutes (RFC 6749 section 4.1.2
// recommends that maximum, since a code is a short-lived bearer credential), ID tokens an hour.
const (
	deviceCodeLifetime   = 15 * time.Minute
	deviceCodeInterval   = 5 // seconds, RFC 8628 interval
	authCodeLifetime     = 10 * time.Minute
	authRequestLifetime  = 10 * time.Minute
	refreshTokenLifetime = 90 * 24 * time.Hour // Entra's inactivity window
	idTokenLifetime      = time.Hour
	// maxBody bounds every request body: forms here are a few hundred bytes, and the bound
	// stops a client (or a web page posting to loopback) from making the authority buffer more.
	maxBody = 64 << 10
)

// Config configures an Authority. The zero value is usable except for StateDir.
type Config struct {
	// Addr is the listen address, "127.0.0.1:8443" by default. Keep it fixed for manual use:
	// MSAL keys its token cache by host and port. "127.0.0.1:0" picks a free port (tests,
	// demo). Only loopback addresses are accepted: this authority approves sign-ins without a
	// password, so it must not be reachable from other machines.
	Addr string
	// Tenant is the tenant path segment, "dev" by default; the authority URL is
	// https://<addr>/<tenant>. Matched case-insensitively, like Entra.
	Tenant string
	// StateDir keeps ca.pem, the TLS key pair and the signing key (directory 0700, keys 0600)
	// so that a restart keeps issued tokens valid, and refresh_tokens.json (0600, hashes
	// only) so that it keeps cached sign-ins. Created if missing. Required.
	StateDir string
	// APIClientID is the API the tokens are for: their aud and the scope prefix api://<id>/.
	// Default "fastmcp-dev-api".
	APIClientID string
	// AppIDURI is the main API's identifier URI (Entra's Application ID URI): the prefix of
	// its scopes, the aud of its v1 tokens and the only RFC 8707 resource accepted for it.
	// Default api://<APIClientID>.
	AppIDURI string
	// APIScopes are the scope names every API exposes, granted for <uri>/.default and
	// carried as roles by app-only tokens. Default ["execute", "read"] plus ExposedScopes.
	APIScopes []string
	// ExposedScopes are scope names every API exposes besides execute and read.
	ExposedScopes []string
	// DownstreamAPIs are the application IDs of further API registrations (identifier URI
	// api://<id>), for tests of clients and servers that ask for another API's token.
	DownstreamAPIs []string
	// TokenVersion is the access token version of the main API, 1 or 2 (default), as
	// Entra's requestedAccessTokenVersion sets it per API registration. v1 tokens carry ver
	// "1.0", appid, appidacr, upn, unique_name, aud = the identifier URI and the v1 issuer
	// named by the v1 discovery document (/<tenant>/.well-known/openid-configuration).
	TokenVersion int
	// ConfidentialClients are client IDs registered without public client flows: as Entra,
	// their device code grant is refused with AADSTS7000218, and their authorization code and
	// refresh token grants need ClientSecret. Every other client is public and must send none
	// (AADSTS700025).
	ConfidentialClients []string
	// RequireConsent lists scopes (short names of the main API, or full <uri>/<name>) that
	// nobody has consented to yet: each client's first sign-in request for one fails with
	// AADSTS65001, as where user consent is disabled until an administrator allows it (the
	// failure stands for that); a client's On-Behalf-Of exchange for one fails, every time,
	// until the user approves a later sign-in of that client asking for it (the /device or
	// /authorize page, or AutoApprove), as on Entra. New refuses a scope that no API exposes.
	RequireConsent []string
	// AutoApprove approves every device code and authorization request at once, without the
	// browser page (scripts, tests, demo).
	AutoApprove bool
	// TokenLifetime is the access token lifetime, 1h by default. Keep it above 5 minutes for
	// MSAL to cache the tokens (it treats them as expired 5 minutes early).
	TokenLifetime time.Duration
	// ClientSecret is the secret of every confidential client: it enables the
	// client_credentials and On-Behalf-Of grants for any client ID presenting it, and is what
	// ConfidentialClients send on their code and refresh token grants; "" disables them.
	ClientSecret string
	// Logger receives request and grant logs (never a token, code or secret); nil discards.
	Logger *slog.Logger
	// Now is the clock, time.Now by default (tests move it to expire codes and tokens).
	Now func() time.Time
}

// Authority is a running (or ready to run) development authority. Its methods are safe for
// concurrent use.
type Authority struct {
	cfg     Config
	km      *keyMaterial
	log     *slog.Logger
	userOID string
	// csrfKey is the per-process HMAC key of the CSRF form tokens (see csrfToken). It is
	// never stored: after a restart, forms served before it are refused and must be reloaded.
	csrfKey []byte
	handler http.Handler
	// tenantID is the tenant's GUID (tid, issuers, home_account_id): derived from the signing
	// key kept in StateDir and the tenant segment, so it is made once and survives restarts,
	// as an Entra tenant ID does; the segment (Config.Tenant) plays the verified domain.
	tenantID string
	// apis are the API registrations; apis[0] is the main API.
	apis []*apiRegistration
	// graph is Microsoft Graph, the audience of a request for OpenID scopes alone.
	graph *apiRegistration
	// consented records the user|client|scope consents given on a sign-in page
	// (Config.RequireConsent, grantConsent); guarded by mu.
	consented map[string]bool
	// adminAllowed records the client|scope pairs whose first sign-in request was refused for
	// missing consent (Config.RequireConsent, checkSignInConsent) and are allowed from then
	// on; guarded by mu.
	adminAllowed map[string]bool

	// mu guards the fields below it. Codes and tokens are kept by the SHA-256
	// of their value (hashToken), never the value, so a dump of these maps redeems nothing.
	mu        sync.Mutex
	devices   map[string]*deviceCode  // by device_code
	userCodes map[string]*deviceCode  // by normalized user code
	authReqs  map[string]*authRequest // pending /authorize requests, by transaction id
	codes     map[string]*authCode    // authorization codes, by code
	refresh   *refreshStore
	// failures is global, not per client address: every client of a loopback-only authority
	// comes from 127.0.0.1 or ::1, so a per-address limit would limit nothing.
	failures []time.Time // recent wrong user codes (rate limit)

	srv *http.Server
	ln  net.Listener
}

// ErrInvalidConfig is wrapped by New's errors about Config values (a non-loopback address, a
// reserved tenant name...), as opposed to failures reading or writing the state directory.
var ErrInvalidConfig = errors.New("invalid configuration")

// tenantPattern is what a tenant segment may be: one lower-case path segment (it is matched
// after lower-casing) that needs no escaping in URLs, issuers or the env lines.
//
// This package's patterns are compiled on first use (sync.OnceValue), not at package init:
// counted repetitions such as {0,127} compile to thousands of instructions, about 400 KB of
// heap that every command of the binary, `serve` included, would otherwise hold (issue 16).
var tenantPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`) })

// New validates cfg, then loads the CA, TLS leaf and RS256 signing key from cfg.StateDir or
// creates them. It does not listen yet: call Start.
func New(cfg Config) (*Authority, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if err := checkLoopback(cfg.Addr); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.Tenant == "" {
		cfg.Tenant = DefaultTenant
	}
	cfg.Tenant = strings.ToLower(cfg.Tenant)
	switch {
	case !tenantPattern().MatchString(cfg.Tenant):
		return nil, fmt.Errorf("%w: tenant %q: use letters, digits, '.', '_' or '-'", ErrInvalidConfig, cfg.Tenant)
	case cfg.Tenant == "adfs" || cfg.Tenant == "dstsv2":
		// MSAL switches to ADFS or dSTS mode for these names.
		return nil, fmt.Errorf("%w: tenant %q is reserved by MSAL: choose another name", ErrInvalidConfig, cfg.Tenant)
	case strings.Contains(cfg.Tenant, "token"):
		// MSAL derives the device code URL by replacing every "token" in the token endpoint.
		return nil, fmt.Errorf("%w: tenant %q must not contain \"token\": MSAL would derive a wrong device code URL", ErrInvalidConfig, cfg.Tenant)
	}
	if cfg.APIClientID == "" {
		cfg.APIClientID = DefaultAPIClientID
	}
	if strings.ContainsAny(cfg.APIClientID, "/ \t\r\n?#") {
		return nil, fmt.Errorf("%w: API client ID %q must not contain '/', '?', '#' or spaces", ErrInvalidConfig, cfg.APIClientID)
	}
	if len(cfg.APIScopes) == 0 {
		cfg.APIScopes = []string{"execute", "read"}
	}
	for _, s := range cfg.ExposedScopes {
		if !slices.Contains(cfg.APIScopes, s) {
			cfg.APIScopes = append(cfg.APIScopes, s)
		}
	}
	if cfg.TokenVersion == 0 {
		cfg.TokenVersion = 2
	}
	if cfg.TokenVersion != 1 && cfg.TokenVersion != 2 {
		return nil, fmt.Errorf("%w: token version %d: use 1 or 2", ErrInvalidConfig, cfg.TokenVersion)
	}
	cfg.AppIDURI = strings.TrimRight(cfg.AppIDURI, "/")
	if cfg.AppIDURI == "" {
		cfg.AppIDURI = "api://" + cfg.APIClientID
	}
	if u, err := url.Parse(cfg.AppIDURI); err != nil || u.Scheme == "" || strings.ContainsAny(cfg.AppIDURI, " \t\"?#,") {
		return nil, fmt.Errorf("%w: identifier URI %q must be an absolute URI such as api://%s", ErrInvalidConfig, cfg.AppIDURI, cfg.APIClientID)
	}
	for _, id := range cfg.DownstreamAPIs {
		if !validClientID(id) || strings.EqualFold(id, cfg.APIClientID) {
			return nil, fmt.Errorf("%w: downstream API %q must be a plain application ID other than the main API's", ErrInvalidConfig, id)
		}
	}
	for _, s := range cfg.APIScopes {
		if !shortNamePattern().MatchString(s) {
			return nil, fmt.Errorf("%w: API scope %q: use letters, digits, '.', '_' or '-'", ErrInvalidConfig, s)
		}
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = DefaultTokenLifetime
	}
	if cfg.StateDir == "" {
		return nil, fmt.Errorf("%w: no state directory: set Config.StateDir", ErrInvalidConfig)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	km, err := loadOrCreateState(cfg.StateDir, cfg.Now())
	if err != nil {
		return nil, err
	}
	a := &Authority{
		cfg:       cfg,
		km:        km,
		log:       cfg.Logger,
		userOID:   deriveGUID(km.signKey, "dev-user-oid"),
		csrfKey:   make([]byte, 32),
		devices:   map[string]*deviceCode{},
		userCodes: map[string]*deviceCode{},
		authReqs:  map[string]*authRequest{},
		codes:     map[string]*authCode{},
	}
	a.tenantID = deriveGUID(km.signKey, "tenant-id:"+cfg.Tenant)
	a.consented, a.adminAllowed = map[string]bool{}, map[string]bool{}
	a.graph = graphRegistration()
	a.apis = []*apiRegistration{{id: cfg.APIClientID, uri: cfg.AppIDURI, scopes: cfg.APIScopes, version: cfg.TokenVersion}}
	for _, id := range cfg.DownstreamAPIs {
		a.apis = append(a.apis, &apiRegistration{id: id, uri: "api://" + id, scopes: cfg.APIScopes, version: 2})
	}
	if err := a.checkRequireConsent(); err != nil {
		return nil, err
	}
	// Refresh tokens survive restarts, as Entra's do: a restart must not end cached sign-ins.
	// They are loaded after the registrations, against which their scopes are parsed.
	a.refresh = a.loadRefreshStore()
	// The CSRF key is random per process (see Authority.csrfKey), so no CSRF secret touches disk.
	if _, err := rand.Read(a.csrfKey); err != nil {
		return nil, err
	}
	a.handler = a.routes()
	return a, nil
}

// checkLoopback refuses listen addresses that are not loopback: an empty host or 0.0.0.0
// would expose password-less sign-in to the network.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w (use host:port such as %s)", addr, err, DefaultAddr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("listen address %q: bad port (use host:port such as %s)", addr, DefaultAddr)
	}
	if netx.IsLoopbackHost(host) {
		return nil
	}
	return fmt.Errorf("listen address %q is not loopback: the development authority listens on 127.0.0.1, ::1 or localhost only", addr)
}

// Start listens on cfg.Addr and serves HTTPS in the background until Shutdown.
func (a *Authority) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv != nil {
		return errors.New("authority already started")
	}
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return fmt.Errorf("could not listen on %s: %w", a.cfg.Addr, err)
	}
	// Re-check the address actually bound ("localhost" could resolve to anything).
	if ip := ln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
		ln.Close()
		return fmt.Errorf("listen address %s resolved to %s, which is not loopback", a.cfg.Addr, ip)
	}
	a.ln = ln
	// The timeouts and header limit bound what a slow or stuck client can hold open
	// (slowloris); 30s of reading and writing is ample for forms of a few hundred bytes.
	a.srv = &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		TLSConfig: &tls.Config{
			// TLS 1.2 at least, as Entra requires. HTTPS even on loopback because MSAL refuses
			// an authority that is not https, with no escape hatch.
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{a.km.tlsCert},
		},
		// Handshake failures (a client not trusting ca.pem yet) are expected while setting
		// up, so net/http's own errors go to debug rather than alarming the user.
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	srv := a.srv
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("dev authority stopped", "err", err)
		}
	}()
	a.log.Info("dev authority listening", "authority", a.urlLocked(), "ca_file", a.CAFile())
	return nil
}

// Shutdown stops the server gracefully, waiting for requests in flight until ctx is done.
func (a *Authority) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	srv := a.srv
	a.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

// Handler returns the authority's HTTP handler (for serving it some other way in tests).
func (a *Authority) Handler() http.Handler { return a.handler }

// hostPortLocked is the host:port clients use: the configured host with the bound port.
func (a *Authority) hostPortLocked() string {
	host, port, _ := net.SplitHostPort(a.cfg.Addr)
	if a.ln != nil {
		port = strconv.Itoa(a.ln.Addr().(*net.TCPAddr).Port)
	}
	return net.JoinHostPort(host, port)
}

// urlLocked is [Authority.URL] for callers already holding a.mu.
func (a *Authority) urlLocked() string {
	return "https://" + a.hostPortLocked() + "/" + a.cfg.Tenant
}

// URL is the authority URL, https://127.0.0.1:<port>/<tenant>: the --authority value. With
// port 0 it is known only after Start.
func (a *Authority) URL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.urlLocked()
}

// Issuer is the iss of v2 tokens: https://127.0.0.1:<port>/<tenant ID>/v2.0, with the tenant's
// GUID as Entra's issuers have it (the URL's segment is like a domain name).
func (a *Authority) Issuer() string { return a.hostURL() + "/" + a.tenantID + "/v2.0" }

// IssuerV1 is the iss of v1 tokens: https://127.0.0.1:<port>/<tenant ID>/, the shape of
// Entra's https://sts.windows.net/<tid>/ on this authority's host.
func (a *Authority) IssuerV1() string { return a.hostURL() + "/" + a.tenantID + "/" }

// TenantID is the tenant's GUID, the tid of its tokens.
func (a *Authority) TenantID() string { return a.tenantID }

// hostURL is https://<host:port> of URL.
func (a *Authority) hostURL() string { return strings.TrimSuffix(a.URL(), "/"+a.cfg.Tenant) }

// CAFile is the path of the CA certificate to trust, <StateDir>/ca.pem.
func (a *Authority) CAFile() string { return filepath.Join(a.cfg.StateDir, caCertFile) }

// CAPEM returns the CA certificate in PEM form.
func (a *Authority) CAPEM() []byte { return append([]byte(nil), a.km.caPEM...) }

// HTTPClient returns an HTTP client trusting the authority's CA only (for tests and the demo).
func (a *Authority) HTTPClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(a.km.caCert)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Loopback: never through a proxy, which HTTPS_PROXY would otherwise insert between
	// the client and an authority on the same host.
	tr.Proxy = nil
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// EnvLines are the settings that point serve and login at this authority, as
// FASTMCP_AUTH_<NAME>=<value> lines ready for eval or a .env file.
func (a *Authority) EnvLines() []string {
	lines := []string{
		"FASTMCP_AUTH_AUTHORITY=" + shellQuote(a.URL()),
		"FASTMCP_AUTH_CA_FILE=" + shellQuote(a.CAFile()),
		"FASTMCP_AUTH_API_CLIENT_ID=" + shellQuote(a.cfg.APIClientID),
		// Any client ID works here; this one names the CLI in the approval page.
		"FASTMCP_AUTH_CLIENT_ID=" + DevClientID,
	}
	// Only a non-default identifier URI is printed: serve and login derive the default.
	if a.cfg.AppIDURI != "api://"+a.cfg.APIClientID {
		lines = append(lines, "FASTMCP_AUTH_APP_ID_URI="+shellQuote(a.cfg.AppIDURI))
	}
	return lines
}

// DevClientID is the public client ID suggested by EnvLines; the authority accepts any.
const DevClientID = "fastmcp-dev-cli"

// shellSafe is the set of characters a POSIX shell and common .env parsers take literally, so
// values made only of them need no quoting.
var shellSafe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_./:@%+=,-]+$`) })

// shellQuote single-quotes s when it holds anything a shell or .env parser would mangle.
func shellQuote(s string) string {
	if shellSafe().MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// RevokeRefreshTokens revokes every refresh token issued so far (tests: a revoked sign-in).
func (a *Authority) RevokeRefreshTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refresh.revokeAll()
	a.saveRefreshLocked()
	a.log.Info("revoked all refresh tokens")
}
