package commands

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// whoamiOutput is `whoami --json`. Verified is always false: the client decodes the token's
// claims without checking the signature (only the resource server can vouch for them).
type whoamiOutput struct {
	Account       string    `json:"account"`
	HomeAccountID string    `json:"home_account_id,omitempty"`
	TenantID      string    `json:"tenant_id,omitempty"`
	Name          string    `json:"name,omitempty"`
	ObjectID      string    `json:"object_id,omitempty"`
	ClientID      string    `json:"client_id,omitempty"`
	Issuer        string    `json:"issuer,omitempty"`
	Audience      []string  `json:"audience"`
	Scopes        []string  `json:"scopes"`
	Roles         []string  `json:"roles"`
	ExpiresAt     time.Time `json:"expires_at"`
	Verified      bool      `json:"verified"`
	Note          string    `json:"note"`
}

// unverifiedNote labels every whoami output.
const unverifiedNote = "unverified: decoded by the client without checking the signature; only the server's verification counts"

// newWhoamiCommand is `fastmcp-auth whoami`: the account and the claims of the current
// access token, never the token itself.
func newWhoamiCommand() *cli.Command {
	return &cli.Command{
		Name:  "whoami",
		Usage: "show the signed-in account and the current token's claims (unverified; never the token)",
		Flags: flagsOf(sharedFlags(), loginFlags(), []cli.Flag{
			serverSignInFlag(),
			&cli.BoolFlag{Name: flagJSON, Usage: "print JSON on stdout", EnvVars: envVar(flagJSON)},
		}),
		Action: func(c *cli.Context) error {
			tok, err := silentToken(c)
			if err != nil {
				return err
			}
			// Empty lists rather than nil, so --json shows [] and a script can iterate
			// without a null check.
			out := whoamiOutput{
				Account: tok.Username, HomeAccountID: tok.HomeAccountID, TenantID: tok.TenantID,
				Audience: []string{}, Scopes: []string{}, Roles: []string{},
				ExpiresAt: tok.ExpiresOn.UTC(), Note: unverifiedNote,
			}
			// Decoded without verification: the client has no business trusting these claims,
			// and whoami is for a person checking which account, audience and scopes the
			// server will see. The token itself is never printed.
			id, err := auth.UnverifiedIdentity(tok.AccessToken)
			switch {
			// OAuth access tokens are opaque to clients by contract: a non-JWT is normal,
			// not an error, and the cache still knows the account and expiry.
			case errors.Is(err, auth.ErrNotJWT):
				out.Note = "the access token is opaque to the client: only the account and expiry are known"
			case err != nil:
				return err
			default:
				out.Name, out.ObjectID, out.ClientID, out.Issuer = id.Name, id.ObjectID, id.ClientID, id.Issuer
				if id.TenantID != "" {
					out.TenantID = id.TenantID
				}
				out.Audience = append(out.Audience, id.Audience...)
				out.Scopes = append(out.Scopes, id.Scopes...)
				out.Roles = append(out.Roles, id.Roles...)
				if !id.Expiry.IsZero() {
					out.ExpiresAt = id.Expiry
				}
			}
			if c.Bool(flagJSON) {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			return printWhoami(c.App.Writer, out)
		},
	}
}

// printWhoami writes the text form: one "field: value" line each, then the label.
func printWhoami(w io.Writer, o whoamiOutput) error {
	// "-" stands for an empty field, so each line keeps two columns for awk or cut.
	list := func(v []string) string {
		if len(v) == 0 {
			return "-"
		}
		return strings.Join(v, " ")
	}
	opt := func(v string) string {
		if v == "" {
			return "-"
		}
		return v
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "account:\t%s\n", opt(o.Account))
	if o.Name != "" {
		fmt.Fprintf(tw, "name:\t%s\n", o.Name)
	}
	fmt.Fprintf(tw, "tenant:\t%s\n", opt(o.TenantID))
	fmt.Fprintf(tw, "audience:\t%s\n", list(o.Audience))
	fmt.Fprintf(tw, "scopes:\t%s\n", list(o.Scopes))
	fmt.Fprintf(tw, "roles:\t%s\n", list(o.Roles))
	fmt.Fprintf(tw, "expires:\t%s (in %s)\n", o.ExpiresAt.Local().Format(time.RFC3339), time.Until(o.ExpiresAt).Round(time.Second))
	if o.Issuer != "" {
		fmt.Fprintf(tw, "issuer:\t%s\n", o.Issuer)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "(%s)\n", o.Note)
	return err
}
