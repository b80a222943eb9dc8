package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// errNotSignedIn is the exit-3 error of CLI.md when no token can be had without a prompt.
var errNotSignedIn = errors.New("not signed in: run fastmcp-auth login")

// clientTokens returns the token supply of the MCP client commands (tools, call): nil with
// --no-auth; --token (or FASTMCP_AUTH_TOKEN) when given; otherwise the cached sign-in,
// refreshed silently, or the device flow when stderr is a terminal. The first token is had
// here, before connecting, so that a sign-in prompt comes before the first request rather than
// after a 401. Without a token and without a terminal it fails at once with exit 3: a script
// must not hang waiting for a code nobody reads.
func clientTokens(ctx context.Context, c *cli.Context, stderr io.Writer) (*auth.TokenSupply, error) {
	if c.Bool(flagNoAuth) {
		return nil, nil
	}
	// An explicit token wins over the cache: it is what CI passes (FASTMCP_AUTH_TOKEN) where
	// no one can sign in. The environment variable is the advised way: a --token value is
	// visible to every user of the machine in the process list.
	if t := strings.TrimSpace(c.String(flagToken)); t != "" {
		warnTokenFlag(c, stderr)
		return auth.StaticToken(t), nil
	}
	// A client secret means the app itself, not a person: client credentials, no prompt.
	if app, err := appTokens(ctx, c); app != nil || err != nil {
		return app, err
	}
	cfg, err := loginConfigFromFlags(c, stderr)
	if err != nil {
		// Without the sign-in settings there is no cached token to find either. CLI.md's
		// promise for tools and call without a usable token and without a terminal is exit 3
		// "not signed in: run fastmcp-auth login": keep it, and name the missing setting.
		if !promptsOnTerminal(stderr) {
			return nil, missingAsNotSignedIn(err)
		}
		return nil, err
	}
	l, err := auth.NewLogin(cfg)
	if err != nil {
		return nil, loginSetupError(err)
	}
	tok, err := l.Silent(ctx)
	if err == nil {
		return auth.NewLoginSupply(l, tok), nil
	}
	// Only "not signed in" can be cured by a prompt; an unreachable authority or an
	// ambiguous account would fail the device flow too. And the device code goes to stderr,
	// so only a person watching stderr on a terminal can act on it: piped or redirected,
	// the command fails at once with exit 3 instead of waiting for a code nobody sees.
	if !errors.Is(err, auth.ErrNotSignedIn) || !promptsOnTerminal(stderr) {
		return nil, loginExitError(err)
	}
	tok, err = l.DeviceCode(ctx)
	if err != nil {
		return nil, loginExitError(err)
	}
	// stderr, not stdout: stdout carries only the tools or call output.
	fmt.Fprintf(stderr, "signed in as %s\n", describeToken(tok))
	return auth.NewLoginSupply(l, tok), nil
}
