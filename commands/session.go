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

// clientAccessToken returns the bearer token the MCP client commands (tools, call, proxy)
// send: "" with --no-auth; --token (or FASTMCP_AUTH_TOKEN) when given; otherwise the cached
// sign-in, refreshed silently, or the device flow when stderr is a terminal. Without a token
// and without a terminal it fails at once with exit 3: a script must not hang waiting for a
// code nobody reads.
func clientAccessToken(ctx context.Context, c *cli.Context, stderr io.Writer) (string, error) {
	if c.Bool(flagNoAuth) {
		return "", nil
	}
	// An explicit token wins over the cache: it is what CI passes (FASTMCP_AUTH_TOKEN) where
	// no one can sign in. The environment variable is the advised way: a --token value is
	// visible to every user of the machine in the process list.
	if t := strings.TrimSpace(c.String(flagToken)); t != "" {
		warnTokenFlag(c, stderr)
		return t, nil
	}
	cfg, err := loginConfigFromFlags(c, stderr)
	if err != nil {
		// Without the sign-in settings there is no cached token to find either. CLI.md's
		// promise for tools and call without a usable token and without a terminal is exit 3
		// "not signed in: run fastmcp-auth login": keep it, and name the missing setting.
		if !promptsOnTerminal(stderr) {
			return "", missingAsNotSignedIn(err)
		}
		return "", err
	}
	l, err := auth.NewLogin(cfg)
	if err != nil {
		return "", withCode(ExitUsage, err)
	}
	tok, err := l.Silent(ctx)
	if err == nil {
		return tok.AccessToken, nil
	}
	// Only "not signed in" can be cured by a prompt; an unreachable authority or an
	// ambiguous account would fail the device flow too. And the device code goes to stderr,
	// so only a person watching stderr on a terminal can act on it: piped or redirected,
	// the command fails at once with exit 3 instead of waiting for a code nobody sees.
	if !errors.Is(err, auth.ErrNotSignedIn) || !promptsOnTerminal(stderr) {
		return "", loginExitError(err)
	}
	tok, err = l.DeviceCode(ctx)
	if err != nil {
		return "", loginExitError(err)
	}
	// stderr, not stdout: stdout carries only the tools or call output.
	fmt.Fprintf(stderr, "signed in as %s\n", describeToken(tok))
	return tok.AccessToken, nil
}
