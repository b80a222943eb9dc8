package commands

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/gateway"
	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
	"github.com/fastmcp-auth/fastmcp-auth/mcpserver"
	"github.com/fastmcp-auth/fastmcp-auth/policy"
)

// Gateway flags of serve (issue 14): `serve [flags] -- COMMAND [ARGS...]` or `--upstream URL`.
const (
	flagSessionIdleTimeout = "session-idle-timeout"
	flagMaxSessions        = "max-sessions"
	flagPassEnv            = "pass-env"
	flagReplicaID          = "replica-id"
	flagPolicy             = "policy"
	flagSharedUpstream     = "shared-upstream"
	flagUpstream           = "upstream"
	flagUpstreamHeaderFile = "upstream-header-file"
	flagAuditLog           = "audit-log"
	flagAuditArgs          = "audit-args"
	flagMetricsAddr        = "metrics-addr"
	flagPerUser            = "per-user"
	flagOBOTokenEnv        = "obo-token-env" //nolint:gosec // G101: a flag's name, not a credential
)

// gatewayFlags are serve's upstream, session and policy settings.
func gatewayFlags() []cli.Flag {
	return []cli.Flag{
		&cli.DurationFlag{Name: flagSessionIdleTimeout, Value: gateway.DefaultIdleTimeout, Usage: "with an upstream: end a session (and its process) idle for this `DURATION`", EnvVars: envVar(flagSessionIdleTimeout)},
		&cli.IntFlag{Name: flagMaxSessions, Value: gateway.DefaultMaxSessions, Usage: "with an upstream: at most `N` sessions (and processes); beyond, initialize gets 503 with Retry-After", EnvVars: envVar(flagMaxSessions)},
		&cli.StringSliceFlag{Name: flagPassEnv, Usage: "with -- COMMAND: environment variable `NAME` passed to the child besides PATH and HOME (repeatable)", EnvVars: envVar(flagPassEnv)},
		&cli.StringFlag{Name: flagReplicaID, Usage: "with an upstream: `NAME` starting every session ID, for routing sessions across replicas", EnvVars: envVar(flagReplicaID)},
		&cli.StringFlag{Name: flagPolicy, Usage: "with an upstream: YAML `FILE` of per-tool rules (CEL); SIGHUP reloads it", EnvVars: envVar(flagPolicy)},
		&cli.StringFlag{Name: flagUpstream, Usage: "serve this Streamable HTTP MCP server `URL` behind the token check (instead of -- COMMAND)", EnvVars: envVar(flagUpstream)},
		&cli.StringFlag{Name: flagUpstreamHeaderFile, Usage: "with --upstream: `FILE` of \"Name: value\" lines sent upstream (credentials; mode 0600)", EnvVars: envVar(flagUpstreamHeaderFile)},
		&cli.BoolFlag{Name: flagAllowHTTP, Usage: "with --upstream: allow a plain-http URL whose host is not loopback", EnvVars: envVar(flagAllowHTTP)},
		&cli.StringFlag{Name: flagAuditLog, Usage: "with an upstream: append one JSON line per tool call and denial to `FILE` (created 0600)", EnvVars: envVar(flagAuditLog)},
		&cli.BoolFlag{Name: flagAuditArgs, Usage: "with --audit-log: include the call's arguments (key args)", EnvVars: envVar(flagAuditArgs)},
		&cli.StringFlag{Name: flagMetricsAddr, Usage: "serve Prometheus metrics at http://`ADDRESS`/metrics (host:port, never the --addr port)", EnvVars: envVar(flagMetricsAddr)},
		&cli.BoolFlag{Name: flagSharedUpstream, Usage: "with -- COMMAND: one process for all sessions (IDs and progress tokens rewritten per session)", EnvVars: envVar(flagSharedUpstream)},
		&cli.BoolFlag{Name: flagPerUser, Usage: "with -- COMMAND: one process per signed-in user (tid+oid), shared by that user's sessions", EnvVars: envVar(flagPerUser)},
		&cli.StringFlag{Name: flagOBOTokenEnv, Usage: "with --per-user and --obo-scope: put the user's On-Behalf-Of token in the process's environment as `NAME` (restarted before it expires)", EnvVars: envVar(flagOBOTokenEnv)},
	}
}

// gatewaySettings is what the gateway flags resolve to; nil without an upstream.
type gatewaySettings struct {
	Command     []string // COMMAND [ARGS...], resolved; empty with Upstream
	Upstream    string   // --upstream URL
	Stateless   bool     // with Upstream: relay each request, no sessions here
	Shared      bool     // with Command: one process for all sessions
	PerUser     bool     // with Command: one process per user
	TokenEnv    string   // with PerUser: the variable of the user's On-Behalf-Of token
	Headers     http.Header
	PassEnv     []string
	IdleTimeout time.Duration
	MaxSessions int
	ReplicaID   string
	Policy      *policy.Holder
	AuditLog    string
	AuditArgs   bool
	OBO         gateway.TokenExchange // --obo-scope: the caller's token exchanged for the upstream's
	OBOScopes   []string
}

var replicaIDPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`) })

type rawArgsKey struct{}

// withRawArgs keeps the command line in ctx: the flag parser drops the "--" that must stand
// before serve's COMMAND, and serve needs to know whether it was there.
func withRawArgs(ctx context.Context, args []string) context.Context {
	return context.WithValue(ctx, rawArgsKey{}, args)
}

// dashDashGiven reports whether the command line had "--" (true when it is not known).
func dashDashGiven(ctx context.Context) bool {
	raw, ok := ctx.Value(rawArgsKey{}).([]string)
	if !ok {
		return true
	}
	for _, a := range raw {
		if a == "--" {
			return true
		}
	}
	return false
}

// checkServeArgs refuses positional arguments not introduced by "--": without it, a word
// after the flags is a mistake (a misplaced flag value, or flags after an argument, which the
// parser would ignore), not a command to run. It runs before any other check.
func checkServeArgs(c *cli.Context) error {
	if c.NArg() > 0 && !dashDashGiven(c.Context) {
		return usageErrorf("serve takes no arguments, got %q: to serve a stdio MCP server, put its command after --: serve [flags] -- COMMAND [ARGS...]", c.Args().First())
	}
	return nil
}

// gatewaySettingsFromFlags validates the gateway flags (exit 2 with the flag named) and
// compiles the policy, so a bad rule stops the server before it listens.
func gatewaySettingsFromFlags(c *cli.Context, s *serveSettings) (*gatewaySettings, error) {
	args := c.Args().Slice()
	upstream := strings.TrimSpace(c.String(flagUpstream))
	if len(args) == 0 && upstream == "" {
		for _, f := range []string{flagPolicy, flagPassEnv, flagReplicaID, flagSharedUpstream, flagPerUser, flagOBOTokenEnv, flagUpstreamHeaderFile, flagAuditLog, flagAuditArgs} {
			if c.IsSet(f) {
				return nil, usageErrorf("--%s needs an upstream: serve [flags] -- COMMAND [ARGS...], or --%s URL", f, flagUpstream)
			}
		}
		return nil, oboFromFlags(c, s, nil)
	}
	if len(args) > 0 && upstream != "" {
		return nil, usageErrorf("give either --%s URL or -- COMMAND, not both", flagUpstream)
	}
	if c.Bool(flagSharedUpstream) && upstream != "" {
		return nil, usageErrorf("--%s is for -- COMMAND (one process for all sessions); with --%s each session has its own upstream session", flagSharedUpstream, flagUpstream)
	}
	if err := perUserFromFlags(c, s, upstream); err != nil {
		return nil, err
	}
	g := &gatewaySettings{
		PassEnv:     cleanList(c.StringSlice(flagPassEnv)),
		IdleTimeout: c.Duration(flagSessionIdleTimeout),
		MaxSessions: c.Int(flagMaxSessions),
		ReplicaID:   strings.TrimSpace(c.String(flagReplicaID)),
	}
	if upstream != "" {
		if err := upstreamSettings(c, g, upstream, s); err != nil {
			return nil, err
		}
	} else {
		if s.Stateless {
			// The process of a session lives in this server; without sessions every request
			// would start (and lose) a process of its own.
			return nil, usageErrorf("--%s cannot be used with a per-session stdio upstream (-- COMMAND): each session has its own process, so requests must reach the server that holds it", flagStateless)
		}
		if c.IsSet(flagUpstreamHeaderFile) {
			return nil, usageErrorf("--%s goes with --%s, not with -- COMMAND (use --%s for a child's credentials)", flagUpstreamHeaderFile, flagUpstream, flagPassEnv)
		}
		path, err := exec.LookPath(args[0])
		if err != nil {
			return nil, usageErrorf("the upstream command %q was not found: give its path, or put it on PATH (serve [flags] -- COMMAND [ARGS...])", args[0])
		}
		g.Command = append([]string{path}, args[1:]...)
		g.Shared = c.Bool(flagSharedUpstream)
		g.PerUser = c.Bool(flagPerUser)
		g.TokenEnv = strings.TrimSpace(c.String(flagOBOTokenEnv))
	}
	g.AuditLog = strings.TrimSpace(c.String(flagAuditLog))
	g.AuditArgs = c.Bool(flagAuditArgs)
	if g.AuditArgs && g.AuditLog == "" {
		return nil, usageErrorf("--%s needs --%s", flagAuditArgs, flagAuditLog)
	}
	if g.IdleTimeout <= 0 {
		return nil, usageErrorf("--%s must be a positive duration such as 15m", flagSessionIdleTimeout)
	}
	if g.MaxSessions < 1 {
		return nil, usageErrorf("--%s must be at least 1, not %d: give a number such as %d", flagMaxSessions, g.MaxSessions, gateway.DefaultMaxSessions)
	}
	if g.ReplicaID != "" && !replicaIDPattern().MatchString(g.ReplicaID) {
		return nil, usageErrorf("--%s takes letters, digits, - and _ (at most 64), not %q", flagReplicaID, g.ReplicaID)
	}
	for _, n := range g.PassEnv {
		if strings.ContainsAny(n, "= ") {
			return nil, usageErrorf("--%s takes a variable name such as GITHUB_TOKEN, not %q", flagPassEnv, n)
		}
	}
	if p := strings.TrimSpace(c.String(flagPolicy)); p != "" {
		h, err := policy.NewHolder(p)
		if err != nil {
			return nil, policyError(p, err)
		}
		g.Policy = h
	}
	if g.AuditLog != "" {
		// Opened (and created, 0600 as the audit log itself) now, to fail with exit 2 before the
		// authority is contacted; the gateway opens it again for good once it is built.
		f, err := os.OpenFile(g.AuditLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fileFlagError("open", flagAuditLog, g.AuditLog, err, "give a file in an existing directory that this user can write")
		}
		_ = f.Close()
	}
	if err := oboFromFlags(c, s, g); err != nil {
		return nil, err
	}
	return g, nil
}

// validEnvName reports a portable environment variable name (POSIX: letters, digits and _,
// not starting with a digit). A loop, not a regexp: package-level regexps are compiled at
// start by every command of the binary.
func validEnvName(s string) bool {
	for i, r := range s {
		letter := r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z')
		if !letter && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return s != ""
}

// perUserFromFlags checks --per-user and --obo-token-env against the other flags (exit 2 with
// the fix): a process per user needs signed-in users and a stdio upstream of sessions.
func perUserFromFlags(c *cli.Context, s *serveSettings, upstream string) error {
	perUser, tokenEnv := c.Bool(flagPerUser), strings.TrimSpace(c.String(flagOBOTokenEnv))
	if tokenEnv != "" && !perUser {
		return usageErrorf("--%s puts a user's token in that user's own process: add --%s", flagOBOTokenEnv, flagPerUser)
	}
	if !perUser {
		return nil
	}
	switch {
	case upstream != "":
		return usageErrorf("--%s is for -- COMMAND (a process per user); with --%s each session has its own upstream session already", flagPerUser, flagUpstream)
	case c.Bool(flagSharedUpstream):
		return usageErrorf("give either --%s (one process per user) or --%s (one process for all), not both", flagPerUser, flagSharedUpstream)
	case s.NoAuth:
		// The process is keyed by the signed-in user (tid+oid); without a token there is none.
		return usageErrorf("--%s keys each process by the signed-in user: it cannot be used with --%s", flagPerUser, flagNoAuth)
	case s.Stateless:
		return usageErrorf("--%s cannot be used with --%s: a user's process lives in one server, so requests must reach the server that holds their session", flagPerUser, flagStateless)
	}
	if tokenEnv == "" {
		return nil
	}
	if !validEnvName(tokenEnv) {
		return usageErrorf("--%s takes a variable name such as GRAPH_TOKEN, not %q", flagOBOTokenEnv, tokenEnv)
	}
	if !c.IsSet(flagOBOScope) {
		return usageErrorf("--%s needs --%s SCOPE (the API the token is for), e.g. --%s https://graph.microsoft.com/User.Read", flagOBOTokenEnv, flagOBOScope, flagOBOScope)
	}
	return nil
}

// upstreamSettings validates --upstream and reads --upstream-header-file.
func upstreamSettings(c *cli.Context, g *gatewaySettings, upstream string, s *serveSettings) error {
	u, err := url.Parse(upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return usageErrorf("--%s must be the http(s) URL of an MCP endpoint, such as https://mcp.internal/mcp, not %q", flagUpstream, upstream)
	}
	if err := checkUpstreamHTTP(c, upstream, s.NoAuth); err != nil {
		return err
	}
	g.Stateless = s.Stateless
	if c.IsSet(flagPassEnv) {
		return usageErrorf("--%s is for -- COMMAND (a child's environment); with --%s use --%s", flagPassEnv, flagUpstream, flagUpstreamHeaderFile)
	}
	g.Upstream = upstream
	if f := strings.TrimSpace(c.String(flagUpstreamHeaderFile)); f != "" {
		h, err := gateway.ReadHeaderFile(f)
		if err != nil {
			return usageErrorf("--%s: %v", flagUpstreamHeaderFile, err)
		}
		g.Headers = h
	}
	return nil
}

// checkUpstreamHTTP refuses a plain-http --upstream whose host is not loopback, without
// --allow-http, when something would cross the network in clear text, readable by anyone on the
// path: the credentials of --upstream-header-file, or, with tokens required, the signed-in
// users' calls and their On-Behalf-Of tokens. The gateway never sends the caller's own token
// upstream (gateway.Remote). With --no-auth and no header file nothing secret travels, and
// CLI.md says --allow-http is not needed with --no-auth.
func checkUpstreamHTTP(c *cli.Context, upstream string, noAuth bool) error {
	headerFile := strings.TrimSpace(c.String(flagUpstreamHeaderFile)) != ""
	if noAuth && !headerFile {
		return nil
	}
	if netx.CheckTokenURL(upstream, c.Bool(flagAllowHTTP)) == nil {
		return nil
	}
	what := "the signed-in users' calls"
	switch {
	case headerFile:
		what = "the credentials of --" + flagUpstreamHeaderFile
	case len(cleanList(c.StringSlice(flagOBOScope))) > 0:
		what = "the users' On-Behalf-Of tokens"
	}
	u, _ := url.Parse(upstream) // parsed by the caller already
	return usageErrorf("--%s: refusing to send %s over plain http to %s, which is not this machine: anyone on the network path could read them; use an https URL, or pass --%s (%s=true) if the network is trusted",
		flagUpstream, what, u.Host, flagAllowHTTP, envVar(flagAllowHTTP)[0])
}

// metricsAddrFromFlags validates --metrics-addr: a host:port other than the public one, so
// the metrics (which name tools and users' failure reasons) are never served to MCP clients.
func metricsAddrFromFlags(c *cli.Context, s *serveSettings) (string, error) {
	addr := strings.TrimSpace(c.String(flagMetricsAddr))
	if addr == "" {
		return "", nil
	}
	if err := checkListenAddr(flagMetricsAddr, addr, "127.0.0.1:9090"); err != nil {
		return "", err
	}
	_, port, _ := net.SplitHostPort(addr)
	if _, servePort, _ := net.SplitHostPort(s.Addr); port == servePort && port != "0" {
		return "", usageErrorf("--%s must not be the public port of --%s (%s): metrics are for the operator, not for MCP clients", flagMetricsAddr, flagAddr, s.Addr)
	}
	return addr, nil
}

// serveMetrics serves m on addr until ctx ends.
func serveMetrics(ctx context.Context, addr string, m *gateway.Metrics, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return listenError(flagMetricsAddr, addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() { _ = srv.Serve(ln) }()
	logger.Info("serving metrics", "addr", ln.Addr().String(), "path", "/metrics")
	return nil
}

// newGateway builds the gateway handler for cfg; the caller closes it after the server stops.
func newGateway(g *gatewaySettings, logger *slog.Logger, metrics *gateway.Metrics) (http.Handler, func(), error) {
	var dial gateway.Dialer
	closeShared := func() {}
	if g.Upstream != "" {
		dial = gateway.Remote{URL: g.Upstream, Headers: g.Headers}.Dial
	} else {
		dial = gateway.Command{
			Path: g.Command[0],
			Args: g.Command[1:],
			Env:  gateway.ScrubbedEnv(os.Environ(), g.PassEnv),
		}.Dial
		switch {
		case g.Shared:
			sh := gateway.NewShared(dial, logger)
			dial = sh.Dial
			closeShared = func() { _ = sh.Close() }
		case g.PerUser:
			if g.TokenEnv != "" && g.OBO == nil {
				return nil, nil, fmt.Errorf("--%s needs the On-Behalf-Of exchange of --%s", flagOBOTokenEnv, flagOBOScope)
			}
			pu, err := gateway.NewPerUser(gateway.PerUserConfig{Dial: dial, TokenEnv: g.TokenEnv, Logger: logger})
			if err != nil {
				return nil, nil, err
			}
			dial = pu.Dial
			closeShared = func() { _ = pu.Close() }
		}
	}
	cfg := gateway.Config{
		Dial:        dial,
		MaxSessions: g.MaxSessions,
		IdleTimeout: g.IdleTimeout,
		ReplicaID:   g.ReplicaID,
		Identity:    mcpserver.IdentityFromContext,
		Logger:      logger,
		OBO:         g.OBO,
	}
	if g.Policy != nil {
		cfg.Policy = g.Policy.Current
	}
	var sinks []func(gateway.Event)
	closeAudit := func() {}
	if g.AuditLog != "" {
		a, err := gateway.OpenAuditLog(g.AuditLog, g.AuditArgs, func(err error) {
			logger.Error("could not write the audit log", "err", err)
		})
		if err != nil {
			return nil, nil, err
		}
		sinks = append(sinks, a.Record)
		closeAudit = func() { _ = a.Close() }
	}
	if metrics != nil {
		sinks = append(sinks, metrics.ObserveEvent)
		cfg.OnSessions = metrics.SetSessions
	}
	if len(sinks) > 0 {
		cfg.OnEvent = func(e gateway.Event) {
			for _, s := range sinks {
				s(e)
			}
		}
	}
	if g.Stateless {
		h, err := gateway.NewPassthrough(gateway.Passthrough{
			URL: g.Upstream, Headers: g.Headers, Policy: cfg.Policy, Identity: cfg.Identity, OnEvent: cfg.OnEvent, Logger: logger,
		})
		if err != nil {
			closeAudit()
			return nil, nil, err
		}
		return h, closeAudit, nil
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		closeAudit()
		return nil, nil, err
	}
	return gw, func() { gw.Close(); closeShared(); closeAudit() }, nil
}

// reloadPolicyOnHUP reloads the policy on each SIGHUP until ctx ends, keeping the one in force
// when the new file does not compile.
func reloadPolicyOnHUP(ctx context.Context, h *policy.Holder, logger *slog.Logger) {
	if h == nil {
		return
	}
	hup := make(chan os.Signal, 1)
	notifyHUP(hup)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := h.Reload(); err != nil {
					logger.Error("policy not reloaded: keeping the one in force", "err", err)
					continue
				}
				logger.Info("policy reloaded", "file", h.Current().Source, "rules", len(h.Current().Rules))
			}
		}
	}()
}

// describeUpstream names the upstream in the start-up log.
func describeUpstream(g *gatewaySettings) string {
	if g.Upstream != "" && len(g.OBOScopes) > 0 {
		return "http: " + g.Upstream + " (on behalf of each user: " + strings.Join(g.OBOScopes, " ") + ")"
	}
	if g.Upstream != "" {
		return "http: " + g.Upstream
	}
	if g.Shared {
		return fmt.Sprintf("stdio (shared): %s", strings.Join(g.Command, " "))
	}
	if g.PerUser {
		return fmt.Sprintf("stdio (per user): %s", strings.Join(g.Command, " "))
	}
	return fmt.Sprintf("stdio: %s", strings.Join(g.Command, " "))
}
