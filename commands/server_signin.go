package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// serverSignInFlag is --server of login, token and whoami: the MCP server whose protected
// resource metadata (login) or recorded sign-in (servers.json) gives the authority and scopes
// when no authority setting is given. It has no default there; tools, call and proxy take
// --server from clientFlags, with its default.
func serverSignInFlag() cli.Flag {
	return &cli.StringFlag{Name: flagServer, Usage: "MCP endpoint `URL` whose metadata (RFC 9728) gives the authority and scopes when --authority/--tenant-id are not set", EnvVars: envVar(flagServer)}
}

// hasFlag reports whether the running command defines the flag name.
func hasFlag(c *cli.Context, name string) bool {
	if c.Command == nil {
		return false
	}
	for _, f := range c.Command.Flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// serverSignIn finds the sign-in settings of --server when no authority setting (flag,
// environment, .env) is given: the record `login --server` kept in servers.json, or, for login
// itself with --server set, the server's protected resource metadata (RFC 9728). It returns nil
// when the command has no --server, or nothing applies. Explicit settings always win: the
// caller asks only when --authority and --tenant-id are empty.
func serverSignIn(c *cli.Context, discover bool, httpClient *http.Client) (*auth.ServerSignIn, error) {
	if !hasFlag(c, flagServer) {
		return nil, nil
	}
	server := strings.TrimSpace(c.String(flagServer))
	if server == "" {
		return nil, nil
	}
	path, err := auth.DefaultServersFile()
	if err != nil {
		return nil, nil // no config directory: no record either
	}
	if !discover {
		rec, err := auth.LookupServer(path, server)
		if err != nil {
			return nil, withCode(ExitFailure, err)
		}
		return rec, nil
	}
	rec, err := auth.DiscoverServer(c.Context, httpClient, server)
	switch {
	case err == nil:
		return rec, nil
	case errors.Is(err, context.Canceled):
		return nil, err
	case errors.Is(err, auth.ErrMetadataRefused):
		return nil, withCode(ExitAuth, err)
	case auth.IsUnreachable(err):
		// The same next step as tools and call give for an unreachable server.
		return nil, withCode(ExitUnreachable, fmt.Errorf("%w: check --server and that the server is running", err))
	default:
		return nil, withCode(ExitAuth, err)
	}
}

// recordServerSignIn keeps, after a successful `login --server` that used the server's
// metadata, the server -> authority, scopes, client ID record in servers.json, so that tools,
// call, proxy and token with the same --server find the sign-in. It says so on stderr.
func recordServerSignIn(c *cli.Context, cfg auth.LoginConfig, stderr io.Writer) error {
	if !c.IsSet(flagServer) || explicitAuthority(c) {
		return nil
	}
	path, err := auth.DefaultServersFile()
	if err != nil {
		return withCode(ExitFailure, err)
	}
	server := strings.TrimSpace(c.String(flagServer))
	if err := auth.RecordServer(path, server, auth.ServerSignIn{Authority: cfg.Authority, Scopes: cfg.Scopes, ClientID: cfg.ClientID}); err != nil {
		return withCode(ExitFailure, err)
	}
	fmt.Fprintf(stderr, "recorded the sign-in for %s in %s\n", server, path)
	return nil
}

// explicitAuthority reports whether an authority setting was given (flag, environment, .env).
func explicitAuthority(c *cli.Context) bool {
	return strings.TrimSpace(c.String(flagAuthority)) != "" || strings.TrimSpace(c.String(flagTenantID)) != ""
}

// fullScopes turns the metadata's scopes into request scopes: a full scope (with a "/", as
// <app-id-uri>/execute) as it is; a short name (as "execute") through apiScope, which needs
// --app-id-uri or --api-client-id (exit 3 without: the metadata alone cannot be used).
func fullScopes(c *cli.Context, scopes []string) ([]string, error) {
	var out []string
	for _, s := range scopes {
		if strings.Contains(s, "/") {
			out = append(out, s)
			continue
		}
		full, err := apiScope(c, s)
		if err != nil {
			return nil, withCode(ExitAuth, fmt.Errorf("the server's metadata names the short scope %q, which needs the API's identifier: %w", s, err))
		}
		out = append(out, full)
	}
	return out, nil
}
