package commands

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// newTokenCommand is `fastmcp-auth token`: the access token and a newline on stdout, for
// scripts (TOKEN=$(fastmcp-auth token)). It refreshes silently and never prompts: a script
// waiting for a device code nobody sees would hang, so it fails with exit 3 instead.
func newTokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "print a valid access token on stdout (refreshed silently; never prompts)",
		Flags: flagsOf(sharedFlags(), loginFlags(), []cli.Flag{serverSignInFlag(), clientSecretFileFlag()}),
		Action: func(c *cli.Context) error {
			// With a client secret: the app's own token, by the client credentials grant.
			if app, err := appTokens(c.Context, c); err != nil {
				return err
			} else if app != nil {
				t, err := app.Token(c.Context)
				if err != nil {
					return loginExitError(err)
				}
				_, err = fmt.Fprintln(c.App.Writer, t)
				return err
			}
			tok, err := silentToken(c)
			if err != nil {
				return err
			}
			// An empty line on stdout would become "Authorization: Bearer " in the caller's
			// script: fail with exit 3 instead.
			if tok.AccessToken == "" {
				return withCode(ExitAuth, errors.New("the cached sign-in holds an empty access token: run fastmcp-auth login --force"))
			}
			// The token and a newline, nothing else: $(...) strips the newline, and any other
			// text would corrupt the header a script builds from it.
			_, err = fmt.Fprintln(c.App.Writer, tok.AccessToken)
			return err
		},
	}
}

// silentToken is the cached (or silently refreshed) token of the flags, for token and whoami.
// Neither may prompt: they are read by scripts, so "not signed in" is exit 3 at once.
func silentToken(c *cli.Context) (*auth.Token, error) {
	_, l, err := newLoginFromFlags(c, c.App.ErrWriter, true)
	if err != nil {
		return nil, missingAsNotSignedIn(err)
	}
	tok, err := l.Silent(c.Context)
	if err != nil {
		return nil, loginExitError(err)
	}
	return tok, nil
}
