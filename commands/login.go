package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// flagForce is login's --force: run the device flow even when a cached token works.
const flagForce = "force"

// flagBrowser is --browser of login and proxy: sign in in a browser (authorization code with
// PKCE on a loopback redirect) instead of with a device code.
const flagBrowser = "browser"

// browserFlag is --browser.
func browserFlag() cli.Flag {
	return &cli.BoolFlag{Name: flagBrowser, Usage: "sign in in a browser (authorization code + PKCE on a loopback redirect; the browser from $BROWSER, else the system's) instead of with a device code", EnvVars: envVar(flagBrowser)}
}

// interactiveSignIn runs the sign-in the flags choose: the browser with --browser, else the
// device code flow (the default: it works over SSH and in containers).
func interactiveSignIn(ctx context.Context, c *cli.Context, l *auth.Login) (*auth.Token, error) {
	if c.Bool(flagBrowser) {
		return l.Browser(ctx)
	}
	return l.DeviceCode(ctx)
}

// newLoginCommand is `fastmcp-auth login`: silent sign-in first, else the device code flow.
func newLoginCommand() *cli.Command {
	return &cli.Command{
		Name:  "login",
		Usage: "sign in with the device code flow (or --browser) and cache the tokens",
		Description: "Uses the cached sign-in when it still works (refreshing it silently); otherwise prints a URL\n" +
			"and a code on stderr to sign in with a browser on any device, or with --browser opens a browser on\n" +
			"this machine (for tenants that block the device code flow). --force always signs in anew.",
		Flags: flagsOf(sharedFlags(), loginFlags(), []cli.Flag{
			&cli.BoolFlag{Name: flagForce, Usage: "sign in anew even when a cached token works", EnvVars: envVar(flagForce)},
			browserFlag(),
			serverSignInFlag(),
		}),
		Action: func(c *cli.Context) error {
			stderr := c.App.ErrWriter
			cfg, l, err := newLoginFromFlags(c, stderr, true)
			if err != nil {
				return err
			}
			ctx := c.Context
			// Silent first (MSAL's advice): a working cached sign-in, or a refresh token the
			// authority still honours, needs no browser round trip. Any other failure than
			// "not signed in" (unreachable, ambiguous account, unreadable cache) is reported
			// as is, since a device flow would not cure it.
			if !c.Bool(flagForce) {
				tok, err := l.Silent(ctx)
				if err == nil {
					fmt.Fprintf(stderr, "already signed in as %s\n", describeToken(tok))
					return recordServerSignIn(c, cfg, stderr)
				}
				if !errors.Is(err, auth.ErrNotSignedIn) {
					return loginExitError(err)
				}
			}
			// login runs the device flow even when stderr is no terminal (unlike tools and
			// call): signing in is what the user asked for, and the prompt may be read from
			// a log. The prompt and the result go to stderr; login prints nothing on stdout.
			tok, err := interactiveSignIn(ctx, c, l)
			if err != nil {
				return loginExitError(err)
			}
			fmt.Fprintf(stderr, "signed in as %s\n", describeToken(tok))
			return recordServerSignIn(c, cfg, stderr)
		},
	}
}

// describeToken is the one-line account and expiry shown after a sign-in. It names the
// account and tenant, never the token: the line lands in terminals and CI logs.
func describeToken(tok *auth.Token) string {
	left := time.Until(tok.ExpiresOn).Round(time.Minute)
	return fmt.Sprintf("%s (tenant %s); access token valid until %s (%s)",
		tok.Username, tok.TenantID, tok.ExpiresOn.Local().Format(time.RFC3339), left)
}

// loginConfigFromFlags builds the sign-in settings of login, token, whoami and the MCP client
// commands (tools, call, proxy) from --authority/--tenant-id, --client-id, --scope (default
// <app-id-uri>/execute), --cache-file, --account and --ca-file. The device-code
// prompt goes to stderr. Missing settings are usage errors naming the flag.
func loginConfigFromFlags(c *cli.Context, stderr io.Writer) (auth.LoginConfig, error) {
	return loginConfig(c, stderr, true)
}

// loginConfig is loginConfigFromFlags; needScopes false (logout) skips the scope defaults.
func loginConfig(c *cli.Context, stderr io.Writer, needScopes bool) (auth.LoginConfig, error) {
	httpClient, err := auth.NewHTTPClient(strings.TrimSpace(c.String(flagCAFile)))
	if err != nil {
		return auth.LoginConfig{}, withCode(ExitUsage, err)
	}
	// No authority setting: the sign-in recorded for --server, or (login --server) the
	// server's own metadata. Explicit settings always win.
	var rec *auth.ServerSignIn
	if !explicitAuthority(c) {
		discover := c.Command != nil && c.Command.Name == "login" && c.IsSet(flagServer)
		if rec, err = serverSignIn(c, discover, httpClient); err != nil {
			return auth.LoginConfig{}, err
		}
	}
	// --server given, nothing recorded for it, and no settings of its own: the missing
	// setting may be the sign-in itself (after a logout --server, say), so the error offers
	// login --server besides the setting that is missing.
	orLoginServer := func(err error) error { return err }
	if rec == nil && !explicitAuthority(c) && c.IsSet(flagServer) {
		server := strings.TrimSpace(c.String(flagServer))
		orLoginServer = func(err error) error {
			return fmt.Errorf("%w; or, as no sign-in is recorded for --server %s, sign in with fastmcp-auth login --server %s", err, server, server)
		}
	}
	clientID := strings.TrimSpace(c.String(flagClientID))
	if clientID == "" && rec != nil {
		clientID = rec.ClientID
	}
	if clientID == "" {
		_, err := requireString(c, flagClientID)
		return auth.LoginConfig{}, missingSettingError{orLoginServer(err)}
	}
	var authority string
	if rec != nil {
		authority = rec.Authority
	} else if authority, err = authorityURL(c); err != nil {
		if strings.TrimSpace(c.String(flagAuthority)) == "" {
			err = missingSettingError{orLoginServer(err)} // neither --authority nor --tenant-id
		}
		return auth.LoginConfig{}, err
	}
	// The default asks for the API's execute scope, the one serve requires by default, so
	// that the two ends agree with no --scope on either. The full <app-id-uri>/ form is what
	// Entra expects in a request; the token then carries the short name in scp.
	var scopes []string
	for _, s := range c.StringSlice(flagScope) {
		if s = strings.TrimSpace(s); s != "" {
			scopes = append(scopes, s)
		}
	}
	if len(scopes) == 0 && needScopes && rec != nil && len(rec.Scopes) > 0 {
		if scopes, err = fullScopes(c, rec.Scopes); err != nil {
			return auth.LoginConfig{}, err
		}
	}
	if len(scopes) == 0 && needScopes {
		if _, err := appIDURI(c); err != nil {
			return auth.LoginConfig{}, err // a malformed --app-id-uri, not a missing one
		}
		if scopes, err = defaultClientScopes(c); err != nil {
			return auth.LoginConfig{}, missingSettingError{err}
		}
	}
	// The cache holds refresh tokens. auth owns how it is written (0700 dir, 0600 file,
	// atomic rename); here only its path is chosen.
	cacheFile := strings.TrimSpace(c.String(flagCacheFile))
	if cacheFile == "" {
		if cacheFile, err = auth.DefaultCacheFile(); err != nil {
			return auth.LoginConfig{}, usageErrorf("%v", err)
		}
	}
	logger, err := newLogger(c, stderr)
	if err != nil {
		return auth.LoginConfig{}, err
	}
	return auth.LoginConfig{
		Authority:  authority,
		ClientID:   clientID,
		Scopes:     scopes,
		CacheFile:  cacheFile,
		CacheStore: strings.TrimSpace(c.String(flagCacheStore)),
		Account:    strings.TrimSpace(c.String(flagAccount)),
		HTTPClient: httpClient,
		// The device code prompt goes to stderr: `fastmcp-auth call ... > out.json` must
		// still show it, and must not write it into out.json.
		Prompt: stderr,
		Logger: logger,
	}, nil
}

// newLoginFromFlags builds the auth.Login of the command's flags, and returns the settings it
// was built from; needScopes false (logout) skips the scope defaults.
func newLoginFromFlags(c *cli.Context, stderr io.Writer, needScopes bool) (auth.LoginConfig, *auth.Login, error) {
	cfg, err := loginConfig(c, stderr, needScopes)
	if err != nil {
		return cfg, nil, err
	}
	l, err := auth.NewLogin(cfg)
	if err != nil {
		return cfg, nil, loginSetupError(err)
	}
	return cfg, l, nil
}

// loginSetupError is the exit code of a failed auth.NewLogin: 1 when the OS credential store
// the cache needs cannot be used, 2 for a bad setting.
func loginSetupError(err error) error {
	if errors.Is(err, auth.ErrCache) {
		return withCode(ExitFailure, err)
	}
	return withCode(ExitUsage, err)
}

// loginExitError attaches the exit code of ../shared/CLI.md to a sign-in error: 2 for an
// ambiguous account (--account is missing), 4 when the authority is unreachable, 1 for a
// token cache that cannot be read or written, 3 for every sign-in failure. A cancelled
// context becomes 130 in Run.
func loginExitError(err error) error {
	// Cancellation is checked first: a device flow stopped by Ctrl-C wraps both
	// auth.ErrLoginCancelled and context.Canceled, and must be 130, not 3. An unreachable
	// authority is 4, not 3: signing in again would not help.
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled):
		return withCode(ExitInterrupted, err)
	case errors.Is(err, auth.ErrAccountAmbiguous):
		return withCode(ExitUsage, err)
	case auth.IsUnreachable(err):
		return withCode(ExitUnreachable, err)
	case errors.Is(err, auth.ErrCache):
		return withCode(ExitFailure, err)
	case errors.Is(err, auth.ErrNotSignedIn):
		return withCode(ExitAuth, explainAADSTS(notSignedIn(err)))
	default:
		return withCode(ExitAuth, explainAADSTS(err))
	}
}

// aadstsPattern finds the AADSTS code in an authority's error description.
var aadstsPattern = regexp.MustCompile(`AADSTS(\d+)`)

// aadstsFixes explains, in one sentence each, the Entra errors that a first sign-in against a
// real tenant (or the development authority, which gives the same ones) most often meets, and
// what to set. Codes from Entra's error reference,
// https://learn.microsoft.com/entra/identity-platform/reference-error-codes.
var aadstsFixes = map[string]string{
	"650053":  "The scope has no API prefix, so Entra looked for it in Microsoft Graph: request it in full as <app-id-uri>/<name> (--scope), or set --api-client-id (and --app-id-uri) for the default <app-id-uri>/execute.",
	"70011":   "A requested scope is not valid: request the API's scopes as <app-id-uri>/<name> with --scope.",
	"500011":  "The API named by the scope is not registered in this tenant: check --api-client-id and --app-id-uri (the Application ID URI under Expose an API) and --tenant-id.",
	"65005":   "The API does not expose the requested scope: add it under Expose an API in the API's registration (dev-authority: --exposed-scope), or request a scope it exposes.",
	"9010010": "The resource parameter is not the API's identifier URI: make the Application ID URI (--app-id-uri) equal to the server's URL, or have the client stop sending resource.",
	"7000218": "The client registration does not allow public client flows: set Authentication > Allow public client flows to Yes for --client-id (dev-authority: remove it from --confidential-client).",
	"65001":   "Nobody has consented to this scope for this client: have an administrator grant consent (API permissions > Grant admin consent), then sign in again.",
	"28000":   "The scopes name more than one API: request one API's scopes per sign-in (--scope).",
	// Also from the error reference: 700016 "The application wasn't found in the
	// directory/tenant", 700025 "Client is public so neither 'client_assertion' nor
	// 'client_secret' should be presented", 50011 the redirect URI does not match a registered one.
	"700016": "The application was not found in the tenant: check --client-id (the client registration's Application (client) ID) and --tenant-id (the tenant it is registered in).",
	"700025": "The client registration is public (Allow public client flows), so it must not send a secret: use a confidential registration for --client-secret-file, or sign in without a secret.",
	"50011":  "The redirect URI is not registered for --client-id: add http://localhost as a Mobile and desktop applications redirect URI under Authentication.",
	// Cross-origin redemption (the web console): "Cross-origin token redemption is permitted
	// only for the 'Single-Page Application' client-type" (AzureAD/microsoft-authentication-library-for-js#5196).
	"9002326": "The browser redeemed the code cross-origin, which Entra allows only for the Single-page application platform: register the redirect URI under Single-page application, not Web.",
}

// explainAADSTS appends the fix for a known AADSTS code to err; other errors pass unchanged.
func explainAADSTS(err error) error {
	m := aadstsPattern.FindStringSubmatch(err.Error())
	if m == nil || aadstsFixes[m[1]] == "" {
		return err
	}
	return fmt.Errorf("%w; %s", err, aadstsFixes[m[1]])
}

// notSignedIn turns auth's "not signed in: <reason>" into the CLI's promised message
// "not signed in: run fastmcp-auth login" with the reason after it. It still matches
// auth.ErrNotSignedIn.
func notSignedIn(err error) error {
	reason := strings.TrimPrefix(err.Error(), auth.ErrNotSignedIn.Error())
	reason = strings.TrimSpace(strings.TrimPrefix(reason, ":"))
	return &notSignedInError{reason: reason, cause: err}
}

// notSignedInError is the exit-3 "not signed in" error with its reason.
type notSignedInError struct {
	reason string
	cause  error
}

// Error is "not signed in: run fastmcp-auth login", with the reason in parentheses.
func (e *notSignedInError) Error() string {
	if e.reason == "" {
		return errNotSignedIn.Error()
	}
	return errNotSignedIn.Error() + " (" + e.reason + ")"
}

// Unwrap exposes both the CLI's errNotSignedIn and auth's cause, so errors.Is matches either.
func (e *notSignedInError) Unwrap() []error { return []error{errNotSignedIn, e.cause} }

// errMissingSetting matches the usage error of a sign-in setting that is absent (client ID,
// authority, API client ID): the commands that only read the cache (token, whoami, and tools,
// call and proxy without a terminal) report it as "not signed in", exit 3, as CLI.md promises
// for them, since no sign-in can exist without those settings.
var errMissingSetting = errors.New("missing sign-in setting")

// missingSettingError is a usage error (exit 2 where it stays one) marked errMissingSetting.
type missingSettingError struct{ error }

func (e missingSettingError) Unwrap() error        { return e.error }
func (e missingSettingError) Is(target error) bool { return target == errMissingSetting }

// missingAsNotSignedIn turns a missing-setting error into CLI.md's exit-3 "not signed in"
// error that still names the setting; other errors pass through.
func missingAsNotSignedIn(err error) error {
	if errors.Is(err, errMissingSetting) {
		return withCode(ExitAuth, fmt.Errorf("%w (%v)", errNotSignedIn, err))
	}
	return err
}
