package commands

import (
	"context"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// flagClientSecretFile is --client-secret-file of call, tools, token and proxy: the client
// credentials grant with the secret in that file. envClientSecret carries the secret itself;
// there is no flag for the value, since argv is visible to every user in the process list.
const (
	flagClientSecretFile = "client-secret-file"
	envClientSecret      = envPrefix + "CLIENT_SECRET"
)

// clientSecretFileFlag is --client-secret-file.
func clientSecretFileFlag() cli.Flag {
	return &cli.StringFlag{Name: flagClientSecretFile, Usage: "`FILE` holding the client secret of --client-id: app-only tokens by the client credentials grant, never cached (or set " + envClientSecret + ")", EnvVars: envVar(flagClientSecretFile)}
}

// appTokens returns the client credentials supply when a client secret is given
// (--client-secret-file, else FASTMCP_AUTH_CLIENT_SECRET), nil otherwise. The scope is
// <app-id-uri>/.default unless --scope is given; the authority comes from --authority,
// --tenant-id or the sign-in recorded for --server. The first token is fetched here, so a
// wrong secret fails before anything else.
func appTokens(ctx context.Context, c *cli.Context) (*auth.TokenSupply, error) {
	if !hasFlag(c, flagClientSecretFile) {
		return nil, nil
	}
	secret := os.Getenv(envClientSecret)
	if p := strings.TrimSpace(c.String(flagClientSecretFile)); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, usageErrorf("could not read --%s: %v", flagClientSecretFile, err)
		}
		secret = strings.TrimRight(string(b), "\r\n")
		if strings.TrimSpace(secret) == "" {
			return nil, usageErrorf("--%s %s is empty", flagClientSecretFile, p)
		}
	}
	if secret == "" {
		return nil, nil
	}
	httpClient, err := auth.NewHTTPClient(strings.TrimSpace(c.String(flagCAFile)))
	if err != nil {
		return nil, withCode(ExitUsage, err)
	}
	var rec *auth.ServerSignIn
	if !explicitAuthority(c) {
		if rec, err = serverSignIn(c, false, httpClient); err != nil {
			return nil, err
		}
	}
	var authority string
	if rec != nil {
		authority = rec.Authority
	} else if authority, err = authorityURL(c); err != nil {
		return nil, err
	}
	clientID, err := requireString(c, flagClientID)
	if err != nil {
		return nil, err
	}
	var scopes []string
	for _, s := range c.StringSlice(flagScope) {
		if s = strings.TrimSpace(s); s != "" {
			scopes = append(scopes, s)
		}
	}
	if len(scopes) == 0 {
		// App permissions are all or nothing: the client credentials grant takes only the
		// resource's .default scope (Entra rejects named scopes there).
		s, err := apiScope(c, ".default")
		if err != nil {
			return nil, err
		}
		scopes = []string{s}
	}
	supply, err := auth.NewAppSupply(auth.AppConfig{Authority: authority, ClientID: clientID, Secret: secret, Scopes: scopes, HTTPClient: httpClient})
	if err != nil {
		return nil, withCode(ExitUsage, err)
	}
	if _, err := supply.Token(ctx); err != nil {
		return nil, loginExitError(err)
	}
	return supply, nil
}
