package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/gateway"
	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
	"github.com/fastmcp-auth/fastmcp-auth/mcpserver"
)

// Flags of `serve` (../shared/CLI.md, "fastmcp-auth serve").
const (
	flagAddr             = "addr"
	flagPath             = "path"
	flagPublicURL        = "public-url"
	flagAudience         = "audience"
	flagIssuer           = "issuer"
	flagJWKSURI          = "jwks-uri"
	flagRequiredScope    = "required-scope"
	flagClockSkew        = "clock-skew"
	flagStateless        = "stateless"
	flagProgressInterval = "progress-interval"
	flagTLSCert          = "tls-cert"
	flagTLSKey           = "tls-key"
	flagAllowedOrigin    = "allowed-origin"
	flagMaxTokenLifetime = "max-token-lifetime"
	flagAllowedTenant    = "allowed-tenant"
	flagCustomKeys       = "custom-signing-keys"
)

// Defaults of `serve`.
const (
	// defaultServeAddr listens on every interface: with tokens required, the server is
	// meant to be reached from other machines and containers.
	defaultServeAddr = "0.0.0.0:8000"
	// defaultNoAuthServeAddr is loopback: an unauthenticated server on all interfaces would
	// hand its tools to anyone on the network (go-sdk's examples default to loopback too).
	defaultNoAuthServeAddr = "127.0.0.1:8000"
	// defaultRequiredScope is the scope every token must grant; login requests
	// <app-id-uri>/execute by default to match.
	defaultRequiredScope = "execute"
	// serveShutdownTimeout bounds the wait for in-flight calls on SIGINT/SIGTERM.
	serveShutdownTimeout = 30 * time.Second
)

// newServeCommand is `fastmcp-auth serve`: the MCP server over Streamable HTTP.
func newServeCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the MCP server over Streamable HTTP, requiring Entra ID bearer tokens",
		Description: "Serves the MCP endpoint (--path), the protected resource metadata (RFC 9728), /healthz and\n" +
			"POST /reverse. Tokens are checked against the authority's key set: signature, issuer, audience,\n" +
			"expiry and the required scopes. SIGINT or SIGTERM stops it after the calls in flight finish.",
		Flags: flagsOf(sharedFlags(), []cli.Flag{
			&cli.StringFlag{Name: flagAddr, Usage: "listen `ADDRESS` host:port", DefaultText: defaultServeAddr + ", or " + defaultNoAuthServeAddr + " with --no-auth", EnvVars: envVar(flagAddr)},
			&cli.StringFlag{Name: flagPath, Value: mcpserver.DefaultPath, Usage: "MCP endpoint `PATH`", EnvVars: envVar(flagPath)},
			&cli.StringFlag{Name: flagPublicURL, Usage: "the `URL` clients use for the MCP endpoint (the resource of the protected resource metadata)", DefaultText: "the URL each client called: its scheme and Host, with --path", EnvVars: envVar(flagPublicURL)},
			&cli.StringSliceFlag{Name: flagAudience, Usage: "accepted aud `VALUE` (repeatable)", DefaultText: "<api-client-id>, <app-id-uri>", EnvVars: envVar(flagAudience)},
			&cli.StringSliceFlag{Name: flagIssuer, Usage: "accepted iss `VALUE` (repeatable)", DefaultText: "from the authority (v1 and v2 issuers for Entra ID)", EnvVars: envVar(flagIssuer)},
			&cli.StringFlag{Name: flagJWKSURI, Usage: "key set `URL` (https, except loopback hosts)", DefaultText: "from the authority's discovery document", EnvVars: envVar(flagJWKSURI)},
			&cli.StringSliceFlag{Name: flagRequiredScope, Usage: "`SCOPE` every token must grant: execute or <app-id-uri>/execute; matched against the short names in scp (repeatable)", DefaultText: defaultRequiredScope, EnvVars: envVar(flagRequiredScope)},
			&cli.DurationFlag{Name: flagClockSkew, Value: 60 * time.Second, Usage: "leeway `DURATION` for exp, nbf and iat", EnvVars: envVar(flagClockSkew)},
			&cli.DurationFlag{Name: flagMaxTokenLifetime, Value: auth.DefaultMaxTokenLifetime, Usage: "refuse tokens whose exp lies more than `DURATION` after now", EnvVars: envVar(flagMaxTokenLifetime)},
			&cli.BoolFlag{Name: flagNoAuth, Usage: "require no token (development only; listens on loopback by default)", EnvVars: envVar(flagNoAuth)},
			&cli.BoolFlag{Name: flagStateless, Usage: "no MCP sessions (several instances behind a load balancer without sticky routing)", EnvVars: envVar(flagStateless)},
			&cli.DurationFlag{Name: flagProgressInterval, Value: time.Second, Usage: "`DURATION` between the five progress steps of reverse_tool", EnvVars: envVar(flagProgressInterval)},
			&cli.StringFlag{Name: flagTLSCert, Usage: "serve HTTPS with this PEM certificate `FILE`", EnvVars: envVar(flagTLSCert)},
			&cli.StringFlag{Name: flagTLSKey, Usage: "PEM private key `FILE` of --tls-cert", EnvVars: envVar(flagTLSKey)},
			&cli.StringSliceFlag{Name: flagAllowedTenant, Usage: "with --tenant-id organizations or common: tenant `ID` (GUID) whose tokens are accepted (repeatable; required there)", EnvVars: envVar(flagAllowedTenant)},
			&cli.BoolFlag{Name: flagCustomKeys, Usage: "the API has custom signing keys: add ?appid=<api-client-id> to discovery and the key set", EnvVars: envVar(flagCustomKeys)},
			&cli.StringSliceFlag{Name: flagAllowedOrigin, Usage: "browser `ORIGIN` allowed to call, scheme://host[:port] (repeatable)", EnvVars: envVar(flagAllowedOrigin)},
		}, webFlags(), gatewayFlags(), oboFlags()),
		Action: runServe,
	}
}

// serveSettings is what the serve flags resolve to before anything touches the network.
type serveSettings struct {
	Addr             string
	Path             string
	PublicURL        string
	NoAuth           bool
	Authority        string // empty when --jwks-uri and --issuer make discovery needless
	JWKSURI          string // empty: from discovery
	Issuers          []string
	IssuerTenants    map[string]string // multi-tenant: each accepted issuer's tenant (tid)
	CustomKeysAppID  string            // --custom-signing-keys: the appid of discovery and key set
	Audiences        []string
	RequiredScopes   []string // short names, as scp carries them
	AppIDURI         string   // the API's identifier URI: prefix of the advertised scopes
	ClockSkew        time.Duration
	MaxTokenLifetime time.Duration
	Stateless        bool
	ProgressInterval time.Duration
	TLSCert, TLSKey  string
	AllowedOrigins   []string
	CAFile           string
	Discovered       string // the discovery document read at start, "" when none was needed
	derivedURL       bool   // PublicURL came from Addr: recomputed once the port is known
}

// serveSettingsFromFlags validates the flags; every error is a usage error naming the flag.
func serveSettingsFromFlags(c *cli.Context) (*serveSettings, error) {
	s := &serveSettings{
		NoAuth:           c.Bool(flagNoAuth),
		Stateless:        c.Bool(flagStateless),
		ClockSkew:        c.Duration(flagClockSkew),
		MaxTokenLifetime: c.Duration(flagMaxTokenLifetime),
		ProgressInterval: c.Duration(flagProgressInterval),
		TLSCert:          strings.TrimSpace(c.String(flagTLSCert)),
		TLSKey:           strings.TrimSpace(c.String(flagTLSKey)),
		CAFile:           strings.TrimSpace(c.String(flagCAFile)),
		JWKSURI:          strings.TrimSpace(c.String(flagJWKSURI)),
		Issuers:          cleanList(c.StringSlice(flagIssuer)),
		Audiences:        cleanList(c.StringSlice(flagAudience)),
		RequiredScopes:   cleanList(c.StringSlice(flagRequiredScope)),
	}

	// --addr has no Value: an explicit address, even 0.0.0.0 with --no-auth, is obeyed, and
	// only the default depends on --no-auth.
	s.Addr = strings.TrimSpace(c.String(flagAddr))
	if s.Addr == "" {
		s.Addr = defaultServeAddr
		if s.NoAuth {
			// Without a token check anyone who can connect can call the tools: stay local
			// unless told otherwise.
			s.Addr = defaultNoAuthServeAddr
		}
	}
	if _, port, err := net.SplitHostPort(s.Addr); err != nil || port == "" {
		return nil, usageErrorf("--%s must be host:port, such as %s, not %q", flagAddr, defaultServeAddr, s.Addr)
	}

	s.Path = strings.TrimSpace(c.String(flagPath))
	if !mcpserver.ValidPath(s.Path) {
		return nil, usageErrorf("--%s must be a path such as /mcp, not %q", flagPath, s.Path)
	}

	// One without the other is a mistake: refuse it rather than guess whether TLS was meant.
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return nil, usageErrorf("--%s and --%s must be given together", flagTLSCert, flagTLSKey)
	}
	if s.ClockSkew < 0 {
		return nil, usageErrorf("--%s must not be negative", flagClockSkew)
	}
	if s.MaxTokenLifetime <= 0 {
		return nil, usageErrorf("--%s must be a positive duration such as 48h, not %s", flagMaxTokenLifetime, s.MaxTokenLifetime)
	}
	if s.ProgressInterval < 0 {
		return nil, usageErrorf("--%s must not be negative", flagProgressInterval)
	}

	// The public URL is the resource of the protected resource metadata (RFC 9728), which
	// clients match against the URL they called: behind a proxy it must be given, since the
	// listen address is not what clients see.
	if p := strings.TrimSpace(c.String(flagPublicURL)); p != "" {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, usageErrorf("--%s must be the absolute http(s) URL of the MCP endpoint, such as https://mcp.example.com/mcp, not %q", flagPublicURL, p)
		}
		s.PublicURL = strings.TrimSuffix(p, "/")
		if strings.TrimSuffix(u.Path, "/") == "" {
			s.PublicURL += s.Path
		}
	} else {
		s.PublicURL = derivePublicURL(s.Addr, s.TLSCert != "", s.Path)
		s.derivedURL = true
	}

	// Origins are exact scheme://host[:port] values, checked up front: a path or a typo
	// would silently never match, and the browser calls would be refused at run time.
	for _, o := range cleanList(c.StringSlice(flagAllowedOrigin)) {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" {
			return nil, usageErrorf("--%s takes an origin scheme://host[:port], such as https://app.example.com, not %q", flagAllowedOrigin, o)
		}
		s.AllowedOrigins = append(s.AllowedOrigins, o)
	}

	// The identifier URI prefixes the scopes advertised in the metadata and the challenges:
	// clients request exactly those (MCP "Scope Selection Strategy"), and Entra resolves a
	// bare "execute" against Microsoft Graph. Without --app-id-uri and --api-client-id, an
	// --audience that is a URI is the best guess (it is the aud of v1 tokens).
	uri, err := appIDURI(c)
	if err != nil {
		return nil, err
	}
	if uri == "" {
		for _, a := range s.Audiences {
			if strings.Contains(a, "://") {
				uri = strings.TrimRight(a, "/")
				break
			}
		}
	}
	s.AppIDURI = uri

	if len(s.RequiredScopes) == 0 {
		s.RequiredScopes = []string{defaultRequiredScope}
	}
	for i, sc := range s.RequiredScopes {
		// Entra puts the short name in scp, so that is what is matched; the full form of
		// this API (<app-id-uri>/execute) is accepted and shortened. Requiring the long form
		// as such would reject every token.
		name, ok := auth.ShortScope(s.AppIDURI, sc)
		if !ok || strings.ContainsAny(name, " \"\\,") {
			return nil, usageErrorf("--%s takes a scope name such as %s, or its full form <app-id-uri>/%s (app-id-uri %q), not %q",
				flagRequiredScope, defaultRequiredScope, defaultRequiredScope, s.AppIDURI, sc)
		}
		s.RequiredScopes[i] = name
	}

	// With --no-auth no token is checked, so no authority or audience is needed.
	if s.NoAuth {
		return s, nil
	}
	// Discovery fills in whatever --jwks-uri and --issuer leave open; with both given, no
	// authority is needed (a key set published without a discovery document).
	allowed := cleanList(c.StringSlice(flagAllowedTenant))
	if s.JWKSURI == "" || len(s.Issuers) == 0 || len(allowed) > 0 {
		a, err := authorityURL(c)
		if err != nil {
			return nil, usageErrorf("%v (or give both --%s and --%s)", err, flagJWKSURI, flagIssuer)
		}
		s.Authority = a
	}
	tenant := auth.AuthorityTenant(s.Authority)
	if len(allowed) > 0 && len(s.Issuers) > 0 {
		// Both would name the accepted issuers: refuse rather than silently ignore one.
		return nil, usageErrorf("give --%s or --%s, not both: --%s already lists the accepted issuers", flagAllowedTenant, flagIssuer, flagIssuer)
	}
	switch {
	case len(s.Issuers) > 0:
		// Explicit issuers are obeyed as they are.
	case auth.IsMultiTenant(tenant):
		// A multi-tenant API accepts the tenants it names, and only those: any tenant's user
		// can get a token for it, so "every tenant" would mean every Entra customer.
		if len(allowed) == 0 {
			return nil, usageErrorf("--%s %s is multi-tenant (users of any tenant can sign in): list the tenants to accept with --%s TENANT-ID (repeatable, or %s as a comma list), or list the issuers with --%s",
				flagTenantID, tenant, flagAllowedTenant, envVar(flagAllowedTenant)[0], flagIssuer)
		}
		iss, tenantOf, err := auth.AllowedTenantIssuers(s.Authority, allowed)
		if err != nil {
			return nil, usageErrorf("--%s: %v", flagAllowedTenant, err)
		}
		s.Issuers, s.IssuerTenants = iss, tenantOf
	case s.JWKSURI != "":
		// A GUID tenant in a Microsoft cloud names both of its issuers: with the key set
		// given too, the server starts without contacting the authority (air-gapped hosts,
		// or an authority briefly down while the server restarts).
		if iss, ok := auth.EntraIssuers(s.Authority, tenant); ok {
			s.Issuers = iss
		}
	}
	if len(allowed) > 0 && !auth.IsMultiTenant(tenant) {
		return nil, usageErrorf("--%s applies to a multi-tenant API only (--%s organizations or common); a single tenant's tokens are the only ones accepted already",
			flagAllowedTenant, flagTenantID)
	}
	if c.Bool(flagCustomKeys) {
		s.CustomKeysAppID = strings.TrimSpace(c.String(flagAPIClientID))
		if s.CustomKeysAppID == "" {
			return nil, usageErrorf("--%s needs --%s (or %s): Entra serves an app's custom keys for ?appid=<api-client-id>",
				flagCustomKeys, flagAPIClientID, envVar(flagAPIClientID)[0])
		}
		if s.JWKSURI != "" {
			s.JWKSURI = auth.WithAppID(s.JWKSURI, s.CustomKeysAppID)
		}
	}
	// No default audience without the API's client ID: accepting any aud would let a
	// token issued for another API of the same tenant call this server.
	if len(s.Audiences) == 0 {
		id := strings.TrimSpace(c.String(flagAPIClientID))
		if id == "" {
			return nil, usageErrorf("--%s is required (or set %s), or give --%s", flagAPIClientID, envVar(flagAPIClientID)[0], flagAudience)
		}
		s.Audiences = auth.DefaultAudiences(id, s.AppIDURI)
	}
	return s, nil
}

// derivePublicURL builds the MCP endpoint URL from the listen address: a wildcard or empty
// host becomes localhost, which is what a local client can reach.
func derivePublicURL(addr string, tls bool, path string) string {
	host, port, _ := net.SplitHostPort(addr)
	switch host {
	case "", "0.0.0.0", "::", "[::]":
		host = "localhost"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return scheme + "://" + hostForURL(host) + path
	}
	return scheme + "://" + net.JoinHostPort(host, port) + path
}

// hostForURL brackets an IPv6 literal so it can stand in a URL's host.
func hostForURL(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// cleanList trims the entries of a repeatable flag and drops empty ones.
func cleanList(in []string) []string {
	var out []string
	for _, v := range in {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// runServe is the serve Action.
func runServe(c *cli.Context) error {
	if err := checkServeArgs(c); err != nil {
		return err
	}
	logger, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	s, err := serveSettingsFromFlags(c)
	if err != nil {
		return err
	}
	web, err := webSettingsFromFlags(c, s)
	if err != nil {
		return err
	}
	gw, err := gatewaySettingsFromFlags(c, s)
	if err != nil {
		return err
	}
	metricsAddr, err := metricsAddrFromFlags(c, s)
	if err != nil {
		return err
	}
	mcpserver.Version = Version
	cfg := mcpserver.Config{
		NoAuth:         s.NoAuth,
		RequiredScopes: s.RequiredScopes,
		ScopePrefix:    s.AppIDURI,
		PublicURL:      s.PublicURL,
		// Without --public-url, clients are told the URL they used (localhost or 127.0.0.1,
		// or the machine's name), not a guess from the listen address.
		PublicURLFromRequest: s.derivedURL,
		Path:                 s.Path,
		Stateless:            s.Stateless,
		ProgressInterval:     s.ProgressInterval,
		AllowedOrigins:       s.AllowedOrigins,
		Logger:               logger,
	}
	// The warning goes to the log on every start, so a server left with --no-auth is seen.
	if s.NoAuth {
		logger.Warn("authentication is disabled (--no-auth): anyone who can reach the server can call its tools")
	} else {
		// The verifier fetches the key set now: an unreachable or wrong authority fails
		// at start, not on the first request.
		v, authServer, err := newServeVerifier(c.Context, s, logger)
		if err != nil {
			return err
		}
		defer v.Close()
		cfg.Verifier = v.Verify
		cfg.AuthorizationServers = []string{authServer}
	}
	// Listen before building the handler: with port 0 the derived public URL needs the
	// port the system picked.
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("could not listen on %s: %w: free the port or choose another --%s", s.Addr, err, flagAddr)
	}
	if s.derivedURL {
		s.PublicURL = derivePublicURL(ln.Addr().String(), s.TLSCert != "", s.Path)
		cfg.PublicURL = s.PublicURL
	}
	warnExposure(s, logger)
	if web != nil {
		console, err := newWebConsole(c.Context, web, s, logger)
		if err != nil {
			_ = ln.Close()
			return err
		}
		cfg.Extra = console.Register
	}
	var metrics *gateway.Metrics
	if metricsAddr != "" {
		metrics = gateway.NewMetrics()
		cfg.OnRequest = metrics.ObserveRequest
		if err := serveMetrics(c.Context, metricsAddr, metrics, logger); err != nil {
			_ = ln.Close()
			return err
		}
	}
	if gw != nil {
		g, closeGateway, err := newGateway(gw, logger, metrics)
		if err != nil {
			_ = ln.Close()
			return usageErrorf("%v", err)
		}
		// Closed after the server stops: every child process ends with the server.
		defer closeGateway()
		cfg.MCPHandler = g
		reloadPolicyOnHUP(c.Context, gw.Policy, logger)
	}
	h, err := mcpserver.Handler(cfg)
	if err != nil {
		_ = ln.Close()
		return usageErrorf("%v", err)
	}
	err = mcpserver.ListenAndServe(c.Context, h, mcpserver.ServeConfig{
		Addr:            s.Addr,
		Listener:        ln,
		TLSCert:         s.TLSCert,
		TLSKey:          s.TLSKey,
		ShutdownTimeout: serveShutdownTimeout,
		Ready: func(a net.Addr) {
			// Settings only: the log names what is accepted, never a key or token.
			attrs := []any{"addr", a.String(), "public_url", s.PublicURL, "auth", !s.NoAuth, "stateless", s.Stateless}
			if gw != nil {
				attrs = append(attrs, "upstream", describeUpstream(gw), "max_sessions", gw.MaxSessions)
			}
			if !s.NoAuth {
				attrs = append(attrs, "required_scopes", s.RequiredScopes, "audiences", s.Audiences, "issuers", s.Issuers, "jwks_uri", s.JWKSURI,
					"discovery", cmp.Or(s.Discovered, "none"))
			}
			logger.Info("serving", attrs...)
		},
	}, logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// warnExposure logs, once at start-up, what a server reachable from other machines is missing
// (issue 10). Loopback listeners are exempt: nothing leaves the machine.
//   - Auth on, no --tls-cert: bearer tokens arrive in clear text, readable and replayable by
//     anyone on the path, unless a TLS-terminating proxy is in front.
//   - No --public-url: the metadata's resource, and the challenge's resource_metadata URL, are
//     built from each request's Host header, which a client or a proxy in front chooses.
func warnExposure(s *serveSettings, logger *slog.Logger) {
	if netx.IsLoopbackHost(s.Addr) {
		return
	}
	if !s.NoAuth && s.TLSCert == "" {
		logger.Warn("serving without TLS on a non-loopback address: bearer tokens travel in clear text unless a TLS-terminating proxy is in front; put one there and set --"+flagPublicURL+" to its https URL, or use --"+flagTLSCert+" and --"+flagTLSKey,
			"addr", s.Addr)
	}
	if s.derivedURL {
		logger.Info("no --"+flagPublicURL+": the protected resource metadata takes its URL from each request's Host header; set --"+flagPublicURL+" when serving behind a proxy or on a public address",
			"addr", s.Addr)
	}
}

// newServeVerifier discovers what --jwks-uri and --issuer leave open, then builds the token
// verifier, which fetches the key set at once. It also returns the authorization server to
// publish in the protected resource metadata. An unreachable authority or key set is exit 4.
func newServeVerifier(ctx context.Context, s *serveSettings, logger *slog.Logger) (*auth.Verifier, string, error) {
	client, err := auth.NewHTTPClient(s.CAFile)
	if err != nil {
		return nil, "", usageErrorf("%v", err)
	}
	authServer := ""
	if s.JWKSURI == "" || len(s.Issuers) == 0 {
		d, err := auth.DiscoverApp(ctx, client, s.Authority, s.CustomKeysAppID)
		if err != nil {
			if auth.IsUnreachable(err) || errors.Is(err, context.DeadlineExceeded) {
				return nil, "", withCode(ExitUnreachable, fmt.Errorf("%w: check the network, --authority or --tenant-id, and --ca-file", err))
			}
			return nil, "", fmt.Errorf("%w: check --authority or --tenant-id", err)
		}
		authServer = d.Issuer
		s.Discovered = auth.WithAppID(auth.DiscoveryURL(s.Authority), s.CustomKeysAppID)
		if s.JWKSURI == "" {
			s.JWKSURI = d.JWKSURI
		}
		if len(s.Issuers) == 0 {
			s.Issuers = auth.DefaultIssuers(s.Authority, d)
			// A multi-tenant authority (common, organizations) publishes the issuer template
			// .../{tenantid}/v2.0, which no token carries: every token would fail as "wrong
			// issuer". Refuse to start rather than reject everything, and say what to set.
			for _, iss := range s.Issuers {
				if strings.ContainsAny(iss, "{}") {
					return nil, "", usageErrorf("the authority %s is multi-tenant (its issuer is %s): set --tenant-id to your tenant, or list the accepted issuers with --issuer", s.Authority, iss)
				}
			}
			s.Issuers = appendV1Issuer(ctx, client, s, logger)
		}
	}
	// The Entra v2 form https://<host>/<tenant>/v2.0 is what hosts recognise as Microsoft
	// (see entraAuthorizationServer); otherwise the discovered or first accepted issuer.
	if a := entraAuthorizationServer(s.Authority); a != "" {
		authServer = a
	}
	if authServer == "" {
		authServer = s.Issuers[0]
	}
	v, err := auth.NewVerifier(ctx, auth.VerifierConfig{
		JWKSURI:       s.JWKSURI,
		Issuers:       s.Issuers,
		IssuerTenants: s.IssuerTenants,
		Audiences:     s.Audiences,
		ClockSkew:     s.ClockSkew,
		HTTPClient:    client,
		Logger:        logger,

		MaxTokenLifetime: s.MaxTokenLifetime,
	})
	switch {
	case err == nil:
		return v, authServer, nil
	case errors.Is(err, auth.ErrKeySetUnavailable) || auth.IsUnreachable(err):
		return nil, "", withCode(ExitUnreachable, fmt.Errorf("%w: check --jwks-uri (or the authority) and --ca-file", err))
	default:
		// The remaining failures are settings the verifier refuses (a plain-http key set
		// URL, an empty issuer): the message names the flag.
		return nil, "", usageErrorf("%v", err)
	}
}

// appendV1Issuer adds the issuer of a non-Microsoft authority's v1 discovery document
// (<authority>/.well-known/openid-configuration), when it exists and differs: an
// Entra-compatible authority issuing v1 tokens (the development authority with
// --token-version 1) names their issuer there, as Entra names https://sts.windows.net/<tid>/.
// Entra hosts need no request: their v1 issuer is known (auth.DefaultIssuers). A missing or
// unreadable document changes nothing: the v2 issuer was found.
func appendV1Issuer(ctx context.Context, client *http.Client, s *serveSettings, logger *slog.Logger) []string {
	if auth.IsEntraAuthority(s.Authority) {
		return s.Issuers
	}
	d, found, err := auth.DiscoverV1(ctx, client, s.Authority)
	if err != nil {
		logger.Debug("no v1 discovery document", "authority", s.Authority, "err", err.Error())
		return s.Issuers
	}
	if !found || slices.Contains(s.Issuers, d.Issuer) {
		return s.Issuers
	}
	return append(s.Issuers, d.Issuer)
}

// entraAuthorizationServer is the authorization server serve publishes for an Entra authority
// with a tenant ID, organizations or common: https://<host>/<tenant>/v2.0. VS Code signs in
// with its built-in Microsoft account provider (as its own client ID, which the API must
// pre-authorize) only when authorization_servers[0] matches that provider's
// authorizationServerGlobs, "https://login.microsoftonline.com/*" and
// "https://login.microsoftonline.com/*/v2.0" (microsoft/vscode,
// extensions/microsoft-authentication/package.json; its sovereign-cloud provider declares
// none, so national clouds fall to VS Code's dynamic registration, which Entra lacks). VS Code
// takes the first authorization server only, and its scopes from the 401 challenge's scope=,
// else scopes_supported (src/vs/workbench/api/common/extHostMcp.ts, createAuthMetadata), and
// hands the metadata's resource to the provider as the resource server
// (mainThreadMcp.ts, $getTokenFromServerMetadata): hence full <app-id-uri>/<scope> scopes,
// and an identifier URI equal to --public-url for Entra to accept that resource. A domain
// tenant keeps the discovered issuer (its GUID form), which has the same shape.
func entraAuthorizationServer(authority string) string {
	t := auth.AuthorityTenant(authority)
	if !auth.IsGUID(t) && !auth.IsMultiTenant(t) {
		return ""
	}
	return auth.EntraAuthorizationServer(authority)
}
