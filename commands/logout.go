package commands

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// newLogoutCommand is `fastmcp-auth logout`: it removes the cached accounts of the authority
// (or the --account one) with their tokens, and says what it removed. It needs no network.
func newLogoutCommand() *cli.Command {
	return &cli.Command{
		Name:  "logout",
		Usage: "remove the cached sign-in (accounts and tokens) of the authority",
		Flags: flagsOf(sharedFlags(), loginFlags()),
		Action: func(c *cli.Context) error {
			stderr := c.App.ErrWriter
			// Scopes play no part in removing accounts, so --api-client-id is not needed.
			l, err := newLoginFromFlags(c, stderr, false)
			if err != nil {
				return err
			}
			// The authority was already validated by newLoginFromFlags; it only names what
			// was signed out of. Logout removes cached entries and revokes nothing at the
			// authority: a copied refresh token stays valid until it expires.
			authority, _ := authorityURL(c)
			removed, err := l.Logout(c.Context)
			if err != nil {
				return loginExitError(err)
			}
			// Nothing to remove is success: logout is idempotent, as scripts expect. Messages
			// go to stderr; logout has no result for stdout.
			if len(removed) == 0 {
				fmt.Fprintf(stderr, "not signed in to %s: nothing to remove from %s\n", authority, l.CacheFile())
				return nil
			}
			fmt.Fprintf(stderr, "signed out %s: removed the cached tokens from %s\n", strings.Join(removed, ", "), l.CacheFile())
			return nil
		},
	}
}
