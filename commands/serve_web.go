package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/webconsole"
)

// flagWeb is serve's --web: also serve the web console at "/".
const flagWeb = "web"

// webFlags are serve's web console settings. --client-id and --scope are the login settings'
// names, so that one .env configures the CLI sign-in and the console alike.
func webFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: flagWeb, Usage: "also serve the web console at / (sign in with the authorization code flow and PKCE, call the tools)", EnvVars: envVar(flagWeb)},
		&cli.StringFlag{Name: flagClientID, Usage: "with --web: client `ID` of the single-page-application registration the console signs in with", EnvVars: envVar(flagClientID)},
		&cli.StringSliceFlag{Name: flagScope, Usage: "with --web: `SCOPE` the console requests (repeatable)", DefaultText: "<app-id-uri>/<required scope> for each --required-scope", EnvVars: envVar(flagScope)},
	}
}

// webSettings is what the --web flags resolve to; nil when --web is off.
type webSettings struct {
	ClientID  string
	Scopes    []string
	Authority string
}

// webSettingsFromFlags validates the --web flags before anything touches the network.
func webSettingsFromFlags(c *cli.Context, s *serveSettings) (*webSettings, error) {
	if !c.Bool(flagWeb) {
		return nil, nil
	}
	// With --no-auth the console signs nobody in, so it needs no client ID or authority.
	w := &webSettings{}
	if s.NoAuth {
		return w, nil
	}
	// A single-page-application registration, not the CLI's public client: the browser
	// signs in with the authorization code flow and PKCE and must be allowed the console's
	// redirect URI. It has no secret, as nothing in a browser can keep one.
	w.ClientID = strings.TrimSpace(c.String(flagClientID))
	if w.ClientID == "" {
		return nil, usageErrorf("--%s needs --%s (or %s): the client ID of a single-page-application registration whose redirect URI is the console's URL",
			flagWeb, flagClientID, envVar(flagClientID)[0])
	}
	w.Authority = s.Authority
	if w.Authority == "" {
		a, err := authorityURL(c)
		if err != nil {
			return nil, usageErrorf("--%s signs in at the authority: %v", flagWeb, err)
		}
		w.Authority = a
	}
	// By default the console asks for exactly the scopes serve requires, so a token it
	// gets is one the server accepts.
	w.Scopes = cleanList(c.StringSlice(flagScope))
	if len(w.Scopes) == 0 {
		// The same <app-id-uri>/<scope> form the challenges advertise and login requests.
		w.Scopes = auth.FullScopes(s.AppIDURI, s.RequiredScopes)
	}
	return w, nil
}

// newWebConsole builds the console (fetching the authority's discovery document) and logs its
// URL. An unreachable authority is exit 4.
func newWebConsole(ctx context.Context, w *webSettings, s *serveSettings, logger *slog.Logger) (*webconsole.Console, error) {
	cfg := webconsole.Config{
		Authority: w.Authority,
		ClientID:  w.ClientID,
		Scopes:    w.Scopes,
		MCPPath:   s.Path,
		NoAuth:    s.NoAuth,
	}
	if !s.NoAuth {
		client, err := auth.NewHTTPClient(s.CAFile)
		if err != nil {
			return nil, usageErrorf("%v", err)
		}
		cfg.HTTPClient = client
	}
	console, err := webconsole.New(ctx, cfg)
	if err != nil {
		if auth.IsUnreachable(err) || errors.Is(err, context.DeadlineExceeded) {
			return nil, withCode(ExitUnreachable, fmt.Errorf("web console: %w: check the network, --authority or --tenant-id, and --ca-file", err))
		}
		return nil, fmt.Errorf("web console: %w", err)
	}
	// The console is served at the root of the public URL's origin.
	consoleURL := s.PublicURL
	if u, err := url.Parse(s.PublicURL); err == nil {
		consoleURL = u.Scheme + "://" + u.Host + "/"
	}
	attrs := []any{"url", consoleURL}
	if !s.NoAuth {
		// The SPA registration must list exactly this URL as a redirect URI.
		attrs = append(attrs, "redirect_uri", consoleURL, "client_id", w.ClientID, "scopes", w.Scopes)
	}
	logger.Info("web console", attrs...)
	return console, nil
}
