package commands

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// newLogoutCommand is `fastmcp-auth logout`: it removes the cached accounts of the authority
// (or the --account one) with their tokens, and says what it removed. It needs no network.
// With --server and no authority setting it signs out of the authority and client that
// `login --server` recorded for that server, and removes the record from servers.json.
func newLogoutCommand() *cli.Command {
	return &cli.Command{
		Name:  "logout",
		Usage: "remove the cached sign-in (accounts and tokens) of the authority, or of --server's recorded sign-in",
		Flags: flagsOf(sharedFlags(), loginFlags(), []cli.Flag{serverSignInFlag()}),
		Action: func(c *cli.Context) error {
			stderr := c.App.ErrWriter
			// The record of --server is read here as well as in loginConfig: logout must know
			// whether it signs out of a recorded sign-in (then it removes the record too),
			// and a server with no record has nothing to sign out of.
			var rec *auth.ServerSignIn
			server := strings.TrimSpace(c.String(flagServer))
			if server != "" && !explicitAuthority(c) {
				var err error
				if rec, err = serverSignIn(c, false, nil); err != nil {
					return err
				}
				if rec == nil {
					path, _ := auth.DefaultServersFile()
					fmt.Fprintf(stderr, "no sign-in is recorded for %s in %s: nothing to remove\n", server, path)
					return nil
				}
			}
			// Scopes play no part in removing accounts, so --api-client-id is not needed.
			cfg, l, err := newLoginFromFlags(c, stderr, false)
			if err != nil {
				return err
			}
			// Logout removes cached entries and revokes nothing at the authority: a copied
			// refresh token stays valid until it expires.
			removed, err := l.Logout(c.Context)
			if err != nil {
				return loginExitError(err)
			}
			// Nothing to remove is success: logout is idempotent, as scripts expect. Messages
			// go to stderr; logout has no result for stdout.
			if len(removed) == 0 {
				fmt.Fprintf(stderr, "not signed in to %s: nothing to remove from %s\n", cfg.Authority, l.CacheFile())
			} else {
				fmt.Fprintf(stderr, "signed out %s: removed the cached tokens from %s\n", strings.Join(removed, ", "), l.CacheFile())
			}
			if rec != nil {
				return forgetServerSignIn(server, stderr)
			}
			return nil
		},
	}
}

// forgetServerSignIn removes the servers.json record of server that `login --server` kept,
// and says so on stderr: after logout, tools or token with the same --server must not find
// an authority to sign in to without a new `login --server`.
func forgetServerSignIn(server string, stderr io.Writer) error {
	path, err := auth.DefaultServersFile()
	if err != nil {
		return withCode(ExitFailure, err)
	}
	removed, err := auth.ForgetServer(path, server)
	if err != nil {
		return withCode(ExitFailure, err)
	}
	if removed {
		fmt.Fprintf(stderr, "removed the sign-in record of %s from %s\n", server, path)
	}
	return nil
}
