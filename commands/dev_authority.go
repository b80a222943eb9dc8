package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
)

// Flags of dev-authority (../shared/CLI.md, "fastmcp-auth dev-authority").
const (
	flagDevAddr             = "addr"
	flagDevTenant           = "tenant"
	flagDevStateDir         = "state-dir"
	flagDevAutoApprove      = "auto-approve"
	flagDevTokenLifetime    = "token-lifetime"
	flagDevClientSecretFile = "client-secret-file"
	flagDevDownstreamAPI    = "downstream-api"
	flagDevExposedScope     = "exposed-scope"
	flagDevTokenVersion     = "token-version"
	flagDevConfidential     = "confidential-client"
	flagDevRequireConsent   = "require-consent"

	// envDevDownstreamAPI is --downstream-api's own variable (the issue that introduced it
	// names it), read before the generic FASTMCP_AUTH_DOWNSTREAM_API.
	envDevDownstreamAPI = envPrefix + "DEV_DOWNSTREAM_API"

	// envDevClientSecret carries the client credentials secret itself. There is no flag for
	// the value: argv is visible to every user of the machine in the process list.
	envDevClientSecret = envPrefix + "DEV_CLIENT_SECRET"
	// envDevClientSecretFile is --client-secret-file's variable here: not
	// FASTMCP_AUTH_CLIENT_SECRET_FILE, which is the client's secret (call, tools, token, proxy),
	// so that one .env can configure both without the authority taking the client's secret.
	envDevClientSecretFile = envPrefix + "DEV_CLIENT_SECRET_FILE"
	// envDevAddr is --addr's own variable, read before FASTMCP_AUTH_ADDR (which CLI.md's rule
	// also gives it): one .env configures serve and the authority, so a shared .env should set
	// this one to keep the authority off the server's address.
	envDevAddr = envPrefix + "DEV_AUTHORITY_ADDR"

	// devShutdownTimeout bounds the wait for in-flight requests after Ctrl-C.
	devShutdownTimeout = 5 * time.Second
)

// newDevAuthorityCommand is `fastmcp-auth dev-authority`: the local Entra-compatible
// authority, for development and tests only.
func newDevAuthorityCommand() *cli.Command {
	return &cli.Command{
		Name:  "dev-authority",
		Usage: "run a local Entra-compatible authority for development (loopback only, never for production)",
		Description: "Serves the Entra ID v2 endpoints MSAL uses over HTTPS with its own CA, and a sign-in page at\n" +
			"/device. On start it prints the FASTMCP_AUTH_* settings that point serve and login at it, on\n" +
			"stdout (fastmcp-auth dev-authority >> .env). Runs until interrupted.",
		Flags: flagsOf(withDefaultText(sharedFlags(), flagAPIClientID, devauthority.DefaultAPIClientID), []cli.Flag{
			&cli.StringFlag{Name: flagDevAddr, Value: devauthority.DefaultAddr, Usage: "loopback listen `ADDRESS` host:port; keep it fixed (MSAL keys its cache by host and port)", EnvVars: []string{envDevAddr, envVar(flagDevAddr)[0]}},
			&cli.StringFlag{Name: flagDevTenant, Value: devauthority.DefaultTenant, Usage: "tenant path `SEGMENT`: the authority is https://<addr>/<tenant>", EnvVars: envVar(flagDevTenant)},
			&cli.StringFlag{Name: flagDevStateDir, Usage: "`DIR` keeping ca.pem, the TLS key pair and the signing key", DefaultText: "<user config dir>/fastmcp-auth/dev-authority", EnvVars: envVar(flagDevStateDir)},
			&cli.BoolFlag{Name: flagDevAutoApprove, Usage: "approve every sign-in at once, without the browser page (scripts, tests)", EnvVars: envVar(flagDevAutoApprove)},
			&cli.DurationFlag{Name: flagDevTokenLifetime, Value: devauthority.DefaultTokenLifetime, Usage: "access token lifetime", EnvVars: envVar(flagDevTokenLifetime)},
			&cli.StringSliceFlag{Name: flagDevDownstreamAPI, Usage: "application `ID` of a further API registration, identifier URI api://<ID> (repeatable)", EnvVars: []string{envDevDownstreamAPI, envVar(flagDevDownstreamAPI)[0]}},
			&cli.StringSliceFlag{Name: flagDevExposedScope, Usage: "scope `NAME` every API exposes besides execute and read (repeatable)", EnvVars: envVar(flagDevExposedScope)},
			&cli.IntFlag{Name: flagDevTokenVersion, Value: 2, Usage: "access token `VERSION` of the main API, 1 or 2 (Entra's requestedAccessTokenVersion)", EnvVars: envVar(flagDevTokenVersion)},
			&cli.StringSliceFlag{Name: flagDevConfidential, Usage: "client `ID` registered without public client flows: it must send the secret, and its device code sign-in fails with AADSTS7000218 (repeatable)", EnvVars: envVar(flagDevConfidential)},
			&cli.StringSliceFlag{Name: flagDevRequireConsent, Usage: "`SCOPE` nobody consented to: each client's first sign-in for it fails with AADSTS65001, and On-Behalf-Of exchanges for it fail until the user approves a later sign-in of that client asking for it (repeatable)", EnvVars: envVar(flagDevRequireConsent)},
			&cli.StringFlag{Name: flagDevClientSecretFile, Usage: "`FILE` holding the secret that enables the client credentials grant (or set " + envDevClientSecret + ")", EnvVars: []string{envDevClientSecretFile}},
		}),
		Action: runDevAuthority,
	}
}

// devAuthorityConfig builds the authority's Config from the flags.
func devAuthorityConfig(c *cli.Context) (devauthority.Config, error) {
	cfg := devauthority.Config{
		Addr:                strings.TrimSpace(c.String(flagDevAddr)),
		Tenant:              strings.TrimSpace(c.String(flagDevTenant)),
		StateDir:            strings.TrimSpace(c.String(flagDevStateDir)),
		APIClientID:         strings.TrimSpace(c.String(flagAPIClientID)),
		AppIDURI:            strings.TrimSpace(c.String(flagAppIDURI)),
		AutoApprove:         c.Bool(flagDevAutoApprove),
		TokenLifetime:       c.Duration(flagDevTokenLifetime),
		DownstreamAPIs:      cleanList(c.StringSlice(flagDevDownstreamAPI)),
		ExposedScopes:       cleanList(c.StringSlice(flagDevExposedScope)),
		TokenVersion:        c.Int(flagDevTokenVersion),
		ConfidentialClients: cleanList(c.StringSlice(flagDevConfidential)),
		RequireConsent:      cleanList(c.StringSlice(flagDevRequireConsent)),
	}
	if cfg.TokenVersion != 1 && cfg.TokenVersion != 2 {
		return cfg, usageErrorf("--%s must be 1 or 2, not %d", flagDevTokenVersion, cfg.TokenVersion)
	}
	if cfg.TokenLifetime < time.Minute {
		return cfg, usageErrorf("--%s must be at least 1m, not %s", flagDevTokenLifetime, cfg.TokenLifetime)
	}
	// The state dir is kept between runs (config dir, not a temp dir) so restarts keep
	// tokens valid (CLI.md): a new signing key would make every cached token fail
	// verification, and a new CA would break every copy of the old ca.pem.
	if cfg.StateDir == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return cfg, usageErrorf("no user config directory (%v): set --%s", err, flagDevStateDir)
		}
		cfg.StateDir = filepath.Join(dir, "fastmcp-auth", "dev-authority")
	}
	// The secret comes from a file or the environment, never a flag value (argv is public).
	// The file wins when both are set, being the more explicit choice. Without either, the
	// client credentials grant stays off. The secret never appears in an error.
	if p := strings.TrimSpace(c.String(flagDevClientSecretFile)); p != "" {
		b, err := os.ReadFile(p) // #nosec G304 -- a path the user chose
		if err != nil {
			return cfg, usageErrorf("could not read --%s: %v", flagDevClientSecretFile, err)
		}
		// Only trailing line ends (an editor's) are trimmed: other whitespace may be part
		// of the secret.
		cfg.ClientSecret = strings.TrimRight(string(b), "\r\n")
		if strings.TrimSpace(cfg.ClientSecret) == "" {
			return cfg, usageErrorf("--%s %s is empty", flagDevClientSecretFile, p)
		}
	} else {
		cfg.ClientSecret = os.Getenv(envDevClientSecret)
	}
	return cfg, nil
}

// runDevAuthority is the dev-authority Action: start, print the settings, serve until
// interrupted, shut down.
func runDevAuthority(c *cli.Context) error {
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	logger, err := newLogger(c, stderr)
	if err != nil {
		return err
	}
	cfg, err := devAuthorityConfig(c)
	if err != nil {
		return err
	}
	cfg.Logger = logger
	a, err := devauthority.New(cfg)
	if err != nil {
		if errors.Is(err, devauthority.ErrInvalidConfig) {
			return usageErrorf("%v (check --%s, --%s, --%s, --%s, --%s and --%s)", err, flagDevAddr, flagDevTenant, flagAPIClientID, flagAppIDURI, flagDevDownstreamAPI, flagDevRequireConsent)
		}
		return fmt.Errorf("could not prepare the dev authority in %s: %w", cfg.StateDir, err)
	}
	if err := a.Start(); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("could not listen on %s: the address is in use (another dev-authority?): stop that process or choose another --%s", cfg.Addr, flagDevAddr)
		}
		return fmt.Errorf("%w: choose another --%s", err, flagDevAddr)
	}
	// Only the FASTMCP_AUTH_* lines go to stdout, so `dev-authority >> .env` (or eval)
	// captures settings and nothing else; the banner and warnings go to stderr.
	for _, l := range a.EnvLines() {
		fmt.Fprintln(stdout, l)
	}
	fmt.Fprintf(stderr, "dev authority ready at %s (development only). Sign-in page: %s/device\n"+
		"The lines above point serve and login at it: save them with `fastmcp-auth dev-authority >> .env`. Ctrl-C stops.\n",
		a.URL(), strings.TrimSuffix(a.URL(), "/"+strings.ToLower(cfg.Tenant)))
	if cfg.AutoApprove {
		fmt.Fprintln(stderr, "warning: --auto-approve: every sign-in is approved without asking")
	}
	if cfg.TokenLifetime <= 5*time.Minute {
		fmt.Fprintln(stderr, "warning: MSAL does not cache access tokens living 5 minutes or less; every call will refresh")
	}
	// Runs until main's context ends (SIGINT/SIGTERM). The shutdown gets a fresh context,
	// since the one that ended cannot bound it.
	<-c.Done()
	ctx, cancel := context.WithTimeout(context.Background(), devShutdownTimeout)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		return fmt.Errorf("could not stop the dev authority cleanly: %w", err)
	}
	return nil
}

// withDefaultText shows text as the default of the string flag name in --help: the shared
// --api-client-id has no default, but the authority falls back to its own.
func withDefaultText(flags []cli.Flag, name, text string) []cli.Flag {
	for _, f := range flags {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Name == name {
			sf.DefaultText = text
		}
	}
	return flags
}
