package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
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

// runServe is the serve Action.
func runServe(c *cli.Context) error {
	if err := checkServeArgs(c); err != nil {
		return err
	}
	if percent, ok := serveGCPercent(os.LookupEnv); ok {
		debug.SetGCPercent(percent)
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
		v, err := newServeVerifier(c.Context, s, logger)
		if err != nil {
			return err
		}
		defer v.Close()
		cfg.Verifier = v.Verify
		cfg.AuthorizationServers = []string{v.AuthorizationServer}
	}
	// Listen before building the handler: with port 0 the derived public URL needs the
	// port the system picked.
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return listenError(flagAddr, s.Addr, err)
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
		TLSCertificate:  s.TLSPair,
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

// newServeVerifier builds the token verifier from the settings (auth.NewServerVerifier:
// discovery of what --jwks-uri and --issuer leave open, then the key set, fetched at once) and
// records what it uses in s for the start-up log. Its failures become the exit codes of
// CLI.md: an unreachable authority or key set is 4, a refused setting 2.
func newServeVerifier(ctx context.Context, s *serveSettings, logger *slog.Logger) (*auth.ServerVerifier, error) {
	client, err := auth.NewHTTPClient(s.CAFile)
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	v, err := auth.NewServerVerifier(ctx, auth.ServerVerifierConfig{
		Authority:        s.Authority,
		JWKSURI:          s.JWKSURI,
		Issuers:          s.Issuers,
		IssuerTenants:    s.IssuerTenants,
		CustomKeysAppID:  s.CustomKeysAppID,
		Audiences:        s.Audiences,
		ClockSkew:        s.ClockSkew,
		MaxTokenLifetime: s.MaxTokenLifetime,
		HTTPClient:       client,
		Logger:           logger,
	})
	switch {
	case err == nil:
		s.JWKSURI, s.Issuers, s.Discovered = v.JWKSURI, v.Issuers, v.Discovered
		return v, nil
	case errors.Is(err, auth.ErrDiscoveryFailed):
		if auth.IsUnreachable(err) || errors.Is(err, context.DeadlineExceeded) {
			return nil, withCode(ExitUnreachable, fmt.Errorf("%w: check the network, --authority or --tenant-id, and --ca-file", err))
		}
		return nil, fmt.Errorf("%w: check --authority or --tenant-id", err)
	case errors.Is(err, auth.ErrMultiTenantIssuer):
		return nil, usageErrorf("%v: set --tenant-id to your tenant, or list the accepted issuers with --issuer", err)
	case errors.Is(err, auth.ErrKeySetUnavailable) || auth.IsUnreachable(err):
		return nil, withCode(ExitUnreachable, fmt.Errorf("%w: check --jwks-uri (or the authority) and --ca-file", err))
	default:
		// The remaining failures are settings the verifier refuses (a plain-http key set
		// URL, an empty issuer): the message names the flag.
		return nil, usageErrorf("%v", err)
	}
}

// serveGCPercent is the garbage collector's target while serving, and whether to set it: 50
// (collect when the heap has grown by half since the last collection, not doubled), unless
// GOGC is set (not empty) in the environment, which then wins as for any Go program.
//
// A server's live heap is small (about 6 MiB at 200 sessions, a quarter of it connection
// buffers) and the growth allowed between collections was the largest part of its peak memory
// it could give up: at 200 sessions, 40 MiB at GOGC=100 against 37 MiB at 50 (0.16x and 0.14x
// the TypeScript peer's), for about 15% more CPU per call (0.31x to 0.36x the peer's at
// 1,000 calls/s). docs/performance.md, "Memory, third pass", has the runs.
func serveGCPercent(lookupEnv func(string) (string, bool)) (int, bool) {
	if v, set := lookupEnv("GOGC"); set && v != "" { // empty is unset, for the runtime too
		return 0, false
	}
	return 50, true
}
