package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
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
	// api://<api-client-id>/execute by default to match.
	defaultRequiredScope = "execute"
	// serveShutdownTimeout bounds the wait for in-flight calls on SIGINT/SIGTERM.
	serveShutdownTimeout = 30 * time.Second
)

// init registers serve (one shared *cli.Command; see register).
func init() { register(newServeCommand()) }

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
			&cli.StringSliceFlag{Name: flagAudience, Usage: "accepted aud `VALUE` (repeatable)", DefaultText: "<api-client-id>, api://<api-client-id>", EnvVars: envVar(flagAudience)},
			&cli.StringSliceFlag{Name: flagIssuer, Usage: "accepted iss `VALUE` (repeatable)", DefaultText: "from the authority (v1 and v2 issuers for Entra ID)", EnvVars: envVar(flagIssuer)},
			&cli.StringFlag{Name: flagJWKSURI, Usage: "key set `URL` (https, except loopback hosts)", DefaultText: "from the authority's discovery document", EnvVars: envVar(flagJWKSURI)},
			&cli.StringSliceFlag{Name: flagRequiredScope, Usage: "`SCOPE` every token must grant, short name as in scp (repeatable)", DefaultText: defaultRequiredScope, EnvVars: envVar(flagRequiredScope)},
			&cli.DurationFlag{Name: flagClockSkew, Value: 60 * time.Second, Usage: "leeway `DURATION` for exp, nbf and iat", EnvVars: envVar(flagClockSkew)},
			&cli.BoolFlag{Name: flagNoAuth, Usage: "require no token (development only; listens on loopback by default)", EnvVars: envVar(flagNoAuth)},
			&cli.BoolFlag{Name: flagStateless, Usage: "no MCP sessions (several instances behind a load balancer without sticky routing)", EnvVars: envVar(flagStateless)},
			&cli.DurationFlag{Name: flagProgressInterval, Value: time.Second, Usage: "`DURATION` between the five progress steps of reverse_tool", EnvVars: envVar(flagProgressInterval)},
			&cli.StringFlag{Name: flagTLSCert, Usage: "serve HTTPS with this PEM certificate `FILE`", EnvVars: envVar(flagTLSCert)},
			&cli.StringFlag{Name: flagTLSKey, Usage: "PEM private key `FILE` of --tls-cert", EnvVars: envVar(flagTLSKey)},
			&cli.StringSliceFlag{Name: flagAllowedOrigin, Usage: "browser `ORIGIN` allowed to call, scheme://host[:port] (repeatable)", EnvVars: envVar(flagAllowedOrigin)},
		}, webFlags()),
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
	Audiences        []string
	RequiredScopes   []string
	ClockSkew        time.Duration
	Stateless        bool
	ProgressInterval time.Duration
	TLSCert, TLSKey  string
	AllowedOrigins   []string
	CAFile           string
	derivedURL       bool // PublicURL came from Addr: recomputed once the port is known
}

// serveSettingsFromFlags validates the flags; every error is a usage error naming the flag.
func serveSettingsFromFlags(c *cli.Context) (*serveSettings, error) {
	s := &serveSettings{
		NoAuth:           c.Bool(flagNoAuth),
		Stateless:        c.Bool(flagStateless),
		ClockSkew:        c.Duration(flagClockSkew),
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
	if !strings.HasPrefix(s.Path, "/") || s.Path == "/" || strings.ContainsAny(s.Path, "?#{} ") {
		return nil, usageErrorf("--%s must be a path such as /mcp, not %q", flagPath, s.Path)
	}

	// One without the other is a mistake: refuse it rather than guess whether TLS was meant.
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return nil, usageErrorf("--%s and --%s must be given together", flagTLSCert, flagTLSKey)
	}
	if s.ClockSkew < 0 {
		return nil, usageErrorf("--%s must not be negative", flagClockSkew)
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

	if len(s.RequiredScopes) == 0 {
		s.RequiredScopes = []string{defaultRequiredScope}
	}
	for _, sc := range s.RequiredScopes {
		// Entra puts the short name in scp; requiring the long form would reject every token.
		if strings.Contains(sc, "/") || strings.ContainsAny(sc, " \"\\") {
			return nil, usageErrorf("--%s takes the short scope name found in the token's scp, such as %s, not %q", flagRequiredScope, defaultRequiredScope, sc)
		}
	}

	// With --no-auth no token is checked, so no authority or audience is needed.
	if s.NoAuth {
		return s, nil
	}
	// Discovery fills in whatever --jwks-uri and --issuer leave open; with both given, no
	// authority is needed (a key set published without a discovery document).
	if s.JWKSURI == "" || len(s.Issuers) == 0 {
		a, err := authorityURL(c)
		if err != nil {
			return nil, usageErrorf("%v (or give both --%s and --%s)", err, flagJWKSURI, flagIssuer)
		}
		s.Authority = a
	}
	// No default audience without the API's client ID: accepting any aud would let a
	// token issued for another API of the same tenant call this server.
	if len(s.Audiences) == 0 {
		id := strings.TrimSpace(c.String(flagAPIClientID))
		if id == "" {
			return nil, usageErrorf("--%s is required (or set %s), or give --%s", flagAPIClientID, envVar(flagAPIClientID)[0], flagAudience)
		}
		s.Audiences = auth.DefaultAudiences(id)
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
	mcpserver.Version = Version
	cfg := mcpserver.Config{
		NoAuth:         s.NoAuth,
		RequiredScopes: s.RequiredScopes,
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
	if web != nil {
		console, err := newWebConsole(c.Context, web, s, logger)
		if err != nil {
			_ = ln.Close()
			return err
		}
		cfg.Extra = console.Register
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
			if !s.NoAuth {
				attrs = append(attrs, "required_scopes", s.RequiredScopes, "audiences", s.Audiences, "issuers", s.Issuers, "jwks_uri", s.JWKSURI)
			}
			logger.Info("serving", attrs...)
		},
	}, logger)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
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
	if s.Authority != "" {
		d, err := auth.Discover(ctx, client, s.Authority)
		if err != nil {
			if auth.IsUnreachable(err) || errors.Is(err, context.DeadlineExceeded) {
				return nil, "", withCode(ExitUnreachable, fmt.Errorf("%w: check the network, --authority or --tenant-id, and --ca-file", err))
			}
			return nil, "", fmt.Errorf("%w: check --authority or --tenant-id", err)
		}
		authServer = d.Issuer
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
		}
	}
	// Without a discovered issuer, the first accepted one names the authorization server
	// in the protected resource metadata clients read.
	if authServer == "" {
		authServer = s.Issuers[0]
	}
	v, err := auth.NewVerifier(ctx, auth.VerifierConfig{
		JWKSURI:    s.JWKSURI,
		Issuers:    s.Issuers,
		Audiences:  s.Audiences,
		ClockSkew:  s.ClockSkew,
		HTTPClient: client,
		Logger:     logger,
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
