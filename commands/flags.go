package commands

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// Flag names shared by several commands (../shared/CLI.md, "Shared settings"). They are
// constants, as in lego and smallstep: one name serves the flag, its FASTMCP_AUTH_* variable
// (envVar), the validation messages and the tests, so these cannot drift apart.
const (
	flagTenantID    = "tenant-id"
	flagAuthority   = "authority"
	flagAPIClientID = "api-client-id"
	flagAppIDURI    = "app-id-uri"
	flagCAFile      = "ca-file"
	flagLogFormat   = "log-format"
	flagDebug       = "debug"

	// login settings, also accepted by tools, call and proxy
	flagClientID  = "client-id"
	flagScope     = "scope"
	flagCacheFile = "cache-file"
	flagAccount   = "account"
	// flagCacheStore is --cache-store: auto, keyring or file.
	flagCacheStore = "cache-store"

	// MCP client settings of tools and call
	flagServer   = "server"
	flagNoAuth   = "no-auth"
	flagToken    = "token"
	flagJSON     = "json"
	flagProgress = "progress"
	// flagAllowHTTP is mcp-remote's name for the same escape hatch (issue 10).
	flagAllowHTTP = "allow-http"
)

// microsoftAuthorityHost is Entra ID's public-cloud sign-in host.
const microsoftAuthorityHost = "login.microsoftonline.com"

// sharedFlags are accepted by every subcommand.
func sharedFlags() []cli.Flag {
	// Every flag's EnvVars is envVar(name): CLI.md promises a FASTMCP_AUTH_<NAME> variable for
	// every flag, and urfave's own precedence (flag > env > default) is the one it asks for.
	return []cli.Flag{
		&cli.StringFlag{Name: flagTenantID, Usage: "Entra tenant `ID` (authority https://login.microsoftonline.com/<tenant>)", EnvVars: envVar(flagTenantID)},
		&cli.StringFlag{Name: flagAuthority, Usage: "full authority `URL` https://host[:port]/<tenant>; overrides --tenant-id", EnvVars: envVar(flagAuthority)},
		&cli.StringFlag{Name: flagAPIClientID, Usage: "client `ID` of the server (API) app registration", EnvVars: envVar(flagAPIClientID)},
		&cli.StringFlag{Name: flagAppIDURI, Usage: "the API's identifier `URI` (Application ID URI): scope prefix, accepted audience, resource", DefaultText: "api://<api-client-id>", EnvVars: envVar(flagAppIDURI)},
		&cli.StringFlag{Name: flagCAFile, Usage: "extra PEM CA bundle `FILE` trusted for the authority and key set", EnvVars: envVar(flagCAFile)},
		&cli.StringFlag{Name: flagLogFormat, Value: "text", Usage: "log format: text or json (logs go to stderr)", EnvVars: envVar(flagLogFormat)},
		&cli.BoolFlag{Name: flagDebug, Usage: "verbose logs (never a token or secret)", EnvVars: envVar(flagDebug)},
		envFileFlag(),
	}
}

// loginFlags are the sign-in settings of login, logout, token, whoami, tools, call and proxy.
func loginFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagClientID, Usage: "client `ID` of the client (public) app registration", EnvVars: envVar(flagClientID)},
		&cli.StringSliceFlag{Name: flagScope, Usage: "`SCOPE` to request (repeatable; default <app-id-uri>/execute)", EnvVars: envVar(flagScope)},
		&cli.StringFlag{Name: flagCacheFile, Usage: "MSAL token cache `FILE` (default <user cache dir>/fastmcp-auth/token_cache.json)", EnvVars: envVar(flagCacheFile)},
		&cli.StringFlag{Name: flagAccount, Usage: "cached account to use (`USERNAME` or home account ID) when several match", EnvVars: envVar(flagAccount)},
		&cli.StringFlag{Name: flagCacheStore, Value: "auto", Usage: "where tokens rest: auto (encrypted with a key in the OS credential store when there is one, else the 0600 file), keyring (require the store) or file", EnvVars: envVar(flagCacheStore)},
	}
}

// clientFlags are the MCP client settings of tools and call (proxy takes --server, --no-auth
// and --token).
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagServer, Value: "http://localhost:8000/mcp", Usage: "MCP endpoint `URL`", EnvVars: envVar(flagServer)},
		&cli.BoolFlag{Name: flagNoAuth, Usage: "send no Authorization header", EnvVars: envVar(flagNoAuth)},
		// Prefer the environment variable: a flag value is visible to other users in the process list.
		&cli.StringFlag{Name: flagToken, Usage: "bearer `TOKEN` to use instead of the cache (prefer FASTMCP_AUTH_TOKEN)", EnvVars: envVar(flagToken)},
		clientSecretFileFlag(),
		&cli.BoolFlag{Name: flagAllowHTTP, Usage: "send the token over plain http to a --server that is not loopback (it travels in clear text)", EnvVars: envVar(flagAllowHTTP)},
	}
}

// checkServerURL validates --server (an absolute http(s) URL; example shows one in the
// message) and, unless --no-auth, refuses a plain-http URL whose host is not loopback without
// --allow-http, before anything is sent: the bearer token would cross the network in clear
// text, readable and replayable by anyone on the path (issue 10). Both are usage errors (exit 2).
func checkServerURL(c *cli.Context, server, example string) error {
	if u, err := url.Parse(server); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return usageErrorf("--%s must be an http(s) URL such as %s, not %q", flagServer, example, server)
	}
	if c.Bool(flagNoAuth) {
		return nil // no token is sent, so there is nothing to protect
	}
	if err := netx.CheckTokenURL(server, c.Bool(flagAllowHTTP)); err != nil {
		return usageErrorf("--%s: %v", flagServer, err)
	}
	return nil
}

// warnTokenFlag prints one line on stderr when the token came from --token on the command line
// of a terminal session: other users of the machine can read it in the process list (ps), which
// the environment variable avoids. Scripts (stderr not a terminal) are left alone.
func warnTokenFlag(c *cli.Context, stderr io.Writer) {
	t := c.String(flagToken)
	if t == "" || t == os.Getenv(envVar(flagToken)[0]) || !promptsOnTerminal(stderr) {
		return
	}
	fmt.Fprintf(stderr, "warning: --%s is visible to other users in the process list; set %s instead\n", flagToken, envVar(flagToken)[0])
}

// flagsOf concatenates flag groups. Each call to a group function makes new flag values:
// urfave flags keep parse state, so they must not be shared between commands.
func flagsOf(groups ...[]cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// authorityURL resolves --authority or --tenant-id into the authority URL
// (https://host[:port]/<tenant>, no trailing slash). It is a usage error when neither is set.
func authorityURL(c *cli.Context) (string, error) {
	if a := strings.TrimSpace(c.String(flagAuthority)); a != "" {
		u, err := url.Parse(a)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return "", usageErrorf("--authority must be a URL such as https://login.microsoftonline.com/<tenant>, not %q", a)
		}
		// Refused rather than allowed for local tests: the authority serves the keys that
		// decide which tokens are genuine, and the development authority speaks https too.
		if u.Scheme != "https" {
			return "", usageErrorf("--authority must use https (MSAL and token issuers require it): %q", a)
		}
		// MSAL derives its endpoints from https://host/<tenant>; a pasted issuer URL ending
		// in /v2.0 is not an authority, so the mistake is named here, with the fix.
		p := strings.Trim(u.Path, "/")
		if p == "" || strings.Contains(p, "/") {
			return "", usageErrorf("--authority needs exactly one tenant path segment, as in https://%s/<tenant> (no /v2.0 suffix): %q", u.Host, a)
		}
		return "https://" + u.Host + "/" + p, nil
	}
	if t := strings.TrimSpace(c.String(flagTenantID)); t != "" {
		// The tenant becomes a URL path segment: anything that would change the URL's
		// structure is refused rather than escaped.
		if strings.ContainsAny(t, "/?# ") {
			return "", usageErrorf("--tenant-id must be a tenant ID or domain, not %q", t)
		}
		return "https://" + microsoftAuthorityHost + "/" + t, nil
	}
	return "", usageErrorf("no authority: set --tenant-id (or %sTENANT_ID) for Entra ID, or --authority (%sAUTHORITY)", envPrefix, envPrefix)
}

// appIDURI returns the API's identifier URI: --app-id-uri, else api://<--api-client-id>; ""
// when neither is set. A malformed --app-id-uri is a usage error.
func appIDURI(c *cli.Context) (string, error) {
	if id := strings.TrimSpace(c.String(flagAPIClientID)); id != "" && !validClientID(id) {
		return "", usageErrorf("--%s must be the API's client ID, a GUID or a name of letters, digits, '.', '_' and '-' (such as %s), not %q; an identifier URI goes in --%s",
			flagAPIClientID, "fastmcp-dev-api", id, flagAppIDURI)
	}
	if u := strings.TrimSpace(c.String(flagAppIDURI)); u != "" {
		if err := auth.CheckAppIDURI(strings.TrimRight(u, "/")); err != nil {
			return "", usageErrorf("--%s: %v", flagAppIDURI, err)
		}
	}
	return auth.AppIDURI(c.String(flagAPIClientID), c.String(flagAppIDURI)), nil
}

// validClientID reports whether id can be an application's client ID: Entra's are GUIDs, the
// development authority's are names such as fastmcp-dev-api. Either stands in an audience, in
// the default identifier URI api://<id> and in the scopes <app-id-uri>/<name>, where a space
// would split the scope list in two and '/', ':' or '?' would change the URI.
func validClientID(id string) bool {
	for _, r := range id {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '.' && r != '_' && r != '-' {
			return false
		}
	}
	return id != ""
}

// apiScope is the one place where a client command turns an API scope name into what it
// requests: <app-id-uri>/<name>. login, token, whoami, tools, call, proxy and serve --web all
// come here, so that they ask for (and find in the token cache) the same scope, and that
// scope is the form Entra understands (a bare "execute" is resolved against Microsoft Graph).
// Without --app-id-uri and --api-client-id it is a usage error naming both, and --scope.
func apiScope(c *cli.Context, name string) (string, error) {
	uri, err := appIDURI(c)
	if err != nil {
		return "", err
	}
	if uri == "" {
		return "", usageErrorf("--%s (or --%s) is required for the default scope <app-id-uri>/%s (or set %s, or give --%s)",
			flagAPIClientID, flagAppIDURI, name, envVar(flagAPIClientID)[0], flagScope)
	}
	return auth.FullScope(uri, name), nil
}

// defaultClientScopes are the scopes a client command requests without --scope:
// <app-id-uri>/execute, the scope serve requires by default.
func defaultClientScopes(c *cli.Context) ([]string, error) {
	s, err := apiScope(c, auth.DefaultScopeName)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// requireString returns a flag's value or a usage error naming it.
func requireString(c *cli.Context, name string) (string, error) {
	v := strings.TrimSpace(c.String(name))
	if v == "" {
		return "", usageErrorf("--%s is required (or set %s)", name, envVar(name)[0])
	}
	return v, nil
}

// fileFlagError is the usage error of the file at path, given to flag, that could not be read
// (verb "read") or opened: it names the flag and the path, the system's reason without the
// path said twice, and what to give instead (want), or, when permission was denied, to check
// the permissions.
func fileFlagError(verb, flag, path string, err error, want string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, fs.ErrPermission) {
		want = "check its permissions and owner"
	}
	return usageErrorf("could not %s --%s %s: %v: %s", verb, flag, path, err, want)
}
