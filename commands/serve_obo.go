package commands

import (
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// On-Behalf-Of flags of serve (issue 15). The API's credentials are named apart from the
// client commands' --client-secret-file / FASTMCP_AUTH_CLIENT_SECRET so that one .env can
// hold both; the secret itself is read from a file or the environment, never argv.
const (
	flagOBOScope            = "obo-scope"
	flagAPIClientSecretFile = "api-client-secret-file" //nolint:gosec // G101: a flag name, not a credential
	flagAPIClientCertFile   = "api-client-cert-file"
	envAPIClientSecret      = envPrefix + "API_CLIENT_SECRET"
)

// oboFlags are serve's On-Behalf-Of settings.
func oboFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: flagOBOScope, Usage: "with an upstream: exchange each caller's token for this downstream `SCOPE` (On-Behalf-Of; repeatable, all of one resource), e.g. https://graph.microsoft.com/User.Read", EnvVars: envVar(flagOBOScope)},
		&cli.StringFlag{Name: flagAPIClientSecretFile, Usage: "with --obo-scope: `FILE` holding the client secret of --api-client-id (or set " + envAPIClientSecret + ")", EnvVars: envVar(flagAPIClientSecretFile)},
		&cli.StringFlag{Name: flagAPIClientCertFile, Usage: "with --obo-scope: PEM `FILE` with the certificate and unencrypted private key of --api-client-id", EnvVars: envVar(flagAPIClientCertFile)},
	}
}

// oboFromFlags validates the On-Behalf-Of flags (exit 2, one line with the fix) and builds
// the exchange into g.OBO. It runs after the upstream settings are known; g is nil without
// an upstream.
func oboFromFlags(c *cli.Context, s *serveSettings, g *gatewaySettings) error {
	scopes := cleanList(c.StringSlice(flagOBOScope))
	secretFile := strings.TrimSpace(c.String(flagAPIClientSecretFile))
	certFile := strings.TrimSpace(c.String(flagAPIClientCertFile))
	if len(scopes) == 0 {
		for _, f := range []string{flagAPIClientSecretFile, flagAPIClientCertFile} {
			if c.IsSet(f) {
				return usageErrorf("--%s is the API's credential for On-Behalf-Of: add --%s SCOPE (the downstream permission), or drop it", f, flagOBOScope)
			}
		}
		return nil
	}
	switch {
	case g == nil:
		return usageErrorf("--%s needs an upstream to call as the user: --%s URL, or -- COMMAND", flagOBOScope, flagUpstream)
	case s.NoAuth:
		return usageErrorf("--%s exchanges the caller's token, and --%s takes none: drop one of them", flagOBOScope, flagNoAuth)
	case g.Stateless:
		return usageErrorf("--%s needs sessions (the user's token is kept per user between requests): drop --%s", flagOBOScope, flagStateless)
	case g.Headers.Get("Authorization") != "":
		return usageErrorf("--%s sets the upstream's Authorization (the user's On-Behalf-Of token): remove Authorization from --%s", flagOBOScope, flagUpstreamHeaderFile)
	case secretFile != "" && certFile != "":
		return usageErrorf("give --%s or --%s, not both", flagAPIClientSecretFile, flagAPIClientCertFile)
	}
	for _, sc := range scopes {
		if err := checkOBOScope(sc); err != nil {
			return err
		}
	}
	if _, err := auth.OBOResource(scopes); err != nil {
		return usageErrorf("--%s: %v", flagOBOScope, err)
	}
	clientID := strings.TrimSpace(c.String(flagAPIClientID))
	if clientID == "" {
		return usageErrorf("--%s needs --%s (or %s): the API's own app registration, which the callers' tokens are for", flagOBOScope, flagAPIClientID, envVar(flagAPIClientID)[0])
	}
	// The authority that issued the callers' tokens; with --jwks-uri and --issuer serve may
	// not have needed it, but the exchange does.
	authority := s.Authority
	if authority == "" {
		a, err := authorityURL(c)
		if err != nil {
			return usageErrorf("--%s needs the authority to exchange tokens at: set --%s or --%s", flagOBOScope, flagTenantID, flagAuthority)
		}
		authority = a
	}
	secret, err := apiClientSecret(secretFile, certFile)
	if err != nil {
		return err
	}
	hc, err := auth.NewHTTPClient(s.CAFile)
	if err != nil {
		return usageErrorf("%v", err)
	}
	o, err := auth.NewOnBehalfOf(auth.OBOConfig{Authority: authority, ClientID: clientID, Secret: secret, CertFile: certFile,
		Scopes: scopes, HTTPClient: hc})
	if err != nil {
		return usageErrorf("--%s: %v", flagOBOScope, err)
	}
	g.OBO = o.Token
	g.OBOScopes = scopes
	return nil
}

// checkOBOScope refuses an --obo-scope that is not one scope: <resource>/<name>,
// <resource>/.default, or a bare name (Microsoft Graph's permission, or an OpenID Connect
// scope such as offline_access). A space would make it two scopes in the token request, and a
// resource without a permission names nothing; either mistake would show only at the first
// exchange, as an error the caller of a tool sees.
func checkOBOScope(sc string) error {
	if strings.ContainsAny(sc, " \t\r\n\",") {
		return usageErrorf("--%s takes one scope without spaces (repeat the flag for more, or list them with commas in %s), such as %s, not %q",
			flagOBOScope, envVar(flagOBOScope)[0], exampleOBOScope, sc)
	}
	switch strings.ToLower(sc) {
	case "openid", "profile", "email", "offline_access":
		return nil
	}
	i := strings.LastIndex(sc, "/")
	if i < 0 {
		// A permission without its resource is Microsoft Graph's, as Entra reads it: "If the
		// resource identifier is omitted in the scope parameter, the resource is assumed to be
		// Microsoft Graph" (learn.microsoft.com/entra/identity-platform/scopes-oidc).
		return nil
	}
	if i == 0 || i == len(sc)-1 || strings.TrimRight(sc[:i], "/") == "" {
		return usageErrorf("--%s takes <resource>/<permission> or <resource>/.default, such as %s, not %q", flagOBOScope, exampleOBOScope, sc)
	}
	return nil
}

// exampleOBOScope is the downstream scope messages show.
const exampleOBOScope = "https://graph.microsoft.com/User.Read"

// apiClientSecret returns the API's client secret from --api-client-secret-file, else
// FASTMCP_AUTH_API_CLIENT_SECRET; "" with a certificate. Neither given is a usage error.
func apiClientSecret(secretFile, certFile string) (string, error) {
	if secretFile != "" {
		b, err := os.ReadFile(secretFile) //nolint:gosec // G304: the operator's own file
		if err != nil {
			return "", fileFlagError("read", flagAPIClientSecretFile, secretFile, err, "give the file holding the API's client secret")
		}
		secret := strings.TrimSpace(string(b))
		if secret == "" {
			return "", usageErrorf("--%s %s is empty: put the API's client secret in it", flagAPIClientSecretFile, secretFile)
		}
		return secret, nil
	}
	secret := strings.TrimSpace(os.Getenv(envAPIClientSecret))
	if certFile != "" {
		if secret != "" {
			return "", usageErrorf("give --%s or %s, not both", flagAPIClientCertFile, envAPIClientSecret)
		}
		return "", nil
	}
	if secret == "" {
		return "", usageErrorf("--%s needs the API's credential: --%s FILE (or %s), or --%s FILE", flagOBOScope, flagAPIClientSecretFile, envAPIClientSecret, flagAPIClientCertFile)
	}
	return secret, nil
}
