package commands

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/urfave/cli/v2"
)

// errNotSignedIn is the exit-3 error of CLI.md when no token can be had without a prompt.
var errNotSignedIn = errors.New("not signed in: run fastmcp-auth login")

// clientAccessToken returns the bearer token the MCP client commands (tools, call, proxy)
// send: "" with --no-auth; --token (or FASTMCP_AUTH_TOKEN) when given; otherwise the cached
// sign-in, refreshed silently, or the device flow when stderr is a terminal. Without a token
// and without a terminal it fails at once with exit 3.
//
// PLACEHOLDER: the cache and device-flow part is filled in by the login work (issue 4).
func clientAccessToken(ctx context.Context, c *cli.Context, stderr io.Writer) (string, error) {
	_ = ctx
	_ = stderr
	if c.Bool(flagNoAuth) {
		return "", nil
	}
	if t := strings.TrimSpace(c.String(flagToken)); t != "" {
		return t, nil
	}
	return "", withCode(ExitAuth, errNotSignedIn)
}
