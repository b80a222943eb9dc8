// Package webconsole is the browser console that `fastmcp-auth serve --web` serves at "/":
// a single page, plain JavaScript and CSS embedded in the binary, that signs a person in with
// the OAuth 2.0 authorization code flow and PKCE ([RFC 7636]) against the configured
// Entra-compatible authority, shows what the token claims, and calls the server's MCP tools
// (Streamable HTTP, with live progress) and its POST /reverse endpoint.
//
// The server side is small on purpose: it serves the embedded files, a config.json built from
// the server's settings (the authority's endpoints come from its discovery document, fetched
// here so that the browser needs no extra cross-origin request), and security headers. The
// strict Content-Security-Policy allows scripts, styles and fetches from this origin only,
// plus fetches to the authority, so the tokens the page holds can reach no third party.
//
// [RFC 7636]: https://www.rfc-editor.org/rfc/rfc7636
package webconsole

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

//go:embed assets
var assetFS embed.FS

// Defaults applied by [New].
const (
	DefaultMCPPath  = "/mcp"
	DefaultRESTPath = "/reverse"
)

// Config configures the console. Authority and ClientID are required unless NoAuth.
type Config struct {
	// Authority is the authority URL, https://host[:port]/<tenant>, as the commands resolve
	// it from --authority or --tenant-id. Its OpenID discovery document,
	// <authority>/v2.0/.well-known/openid-configuration, gives the endpoints.
	Authority string
	// ClientID is the client ID of the single-page-application registration the browser
	// signs in with. It is public: it goes to every visitor in config.json.
	ClientID string
	// Scopes are requested at sign-in, e.g. api://<api-client-id>/execute. The console adds
	// openid and profile so that the account can be shown.
	Scopes []string
	// MCPPath is the MCP endpoint path on this origin; default "/mcp".
	MCPPath string
	// RESTPath is the REST alternative's path on this origin; default "/reverse".
	RESTPath string
	// NoAuth serves a console without sign-in, for a server started with --no-auth.
	NoAuth bool
	// HTTPClient fetches the discovery document; nil means http.DefaultClient. Pass the
	// client that trusts --ca-file for the development authority.
	HTTPClient *http.Client
	// Endpoints, when its AuthorizeEndpoint and TokenEndpoint are set, is used as is and no
	// discovery document is fetched (tests, authorities without discovery).
	Endpoints Endpoints
}

// Endpoints are the authority's endpoints the browser uses, as published in its OpenID
// discovery document.
type Endpoints struct {
	Issuer            string
	AuthorizeEndpoint string
	TokenEndpoint     string
}

// clientConfig is config.json: everything the page needs to know, none of it secret.
type clientConfig struct {
	AuthRequired      bool     `json:"authRequired"`
	Authority         string   `json:"authority,omitempty"`
	Issuer            string   `json:"issuer,omitempty"`
	ClientID          string   `json:"clientId,omitempty"`
	Scopes            []string `json:"scopes,omitempty"`
	AuthorizeEndpoint string   `json:"authorizeEndpoint,omitempty"`
	TokenEndpoint     string   `json:"tokenEndpoint,omitempty"`
	MCPPath           string   `json:"mcpPath"`
	RESTPath          string   `json:"restPath"`
}

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

// Console serves the web console. Mount it on a mux with [Console.Register], or use it
// as an [http.Handler] on its own.
type Console struct {
	csp        string
	configJSON []byte
	index      asset
	assets     map[string]asset // by file name under assets/
	mux        *http.ServeMux
}

// New builds the console. Unless cfg.NoAuth or cfg.Endpoints is set it fetches the
// authority's discovery document, so it fails fast, as the token verifier does, when the
// authority is unreachable or misconfigured.
func New(ctx context.Context, cfg Config) (*Console, error) {
	if cfg.MCPPath == "" {
		cfg.MCPPath = DefaultMCPPath
	}
	if cfg.RESTPath == "" {
		cfg.RESTPath = DefaultRESTPath
	}
	cc := clientConfig{AuthRequired: !cfg.NoAuth, MCPPath: cfg.MCPPath, RESTPath: cfg.RESTPath}
	var connect []string
	if !cfg.NoAuth {
		if cfg.ClientID == "" {
			return nil, errors.New("the web console needs the client ID of a single-page-application registration: set --client-id")
		}
		authority, err := checkEndpoint("authority", strings.TrimRight(cfg.Authority, "/"))
		if err != nil {
			return nil, err
		}
		ep := cfg.Endpoints
		if ep.AuthorizeEndpoint == "" || ep.TokenEndpoint == "" {
			if ep, err = discover(ctx, cfg.HTTPClient, authority.String()); err != nil {
				return nil, err
			}
		}
		// The browser navigates to the authorization endpoint (CSP connect-src does not
		// govern navigation) but it must still be https.
		if _, err := checkEndpoint("authorization endpoint", ep.AuthorizeEndpoint); err != nil {
			return nil, err
		}
		token, err := checkEndpoint("token endpoint", ep.TokenEndpoint)
		if err != nil {
			return nil, err
		}
		// The page fetches only the token endpoint cross-origin; allowing that origin (and
		// the authority's, usually the same) and nothing else keeps tokens from leaving.
		connect = appendOrigin(connect, authority)
		connect = appendOrigin(connect, token)
		cc.Authority = authority.String()
		cc.Issuer = ep.Issuer
		cc.ClientID = cfg.ClientID
		cc.Scopes = withOpenIDScopes(cfg.Scopes)
		cc.AuthorizeEndpoint = ep.AuthorizeEndpoint
		cc.TokenEndpoint = ep.TokenEndpoint
	}
	configJSON, err := json.MarshalIndent(cc, "", "  ")
	if err != nil {
		return nil, err
	}
	c := &Console{csp: contentSecurityPolicy(connect), configJSON: configJSON, assets: map[string]asset{}}
	if err := c.loadAssets(); err != nil {
		return nil, err
	}
	c.mux = http.NewServeMux()
	c.Register(c.mux)
	return c, nil
}

// Register mounts the console's routes on mux: GET / (the page), GET /config.json and
// GET /assets/<file>. Its signature fits mcpserver.Config.Extra.
func (c *Console) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", c.serveIndex)
	mux.HandleFunc("GET /config.json", c.serveConfig)
	mux.HandleFunc("GET /assets/{file}", c.serveAsset)
}

// ServeHTTP serves the console's routes alone (404 for anything else).
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.mux.ServeHTTP(w, r) }

// CSP returns the Content-Security-Policy header value the console is served with.
func (c *Console) CSP() string { return c.csp }

// contentSecurityPolicy is the policy of every console response. default-src 'none' denies
// what is not listed; no 'unsafe-inline' and no 'unsafe-eval', so injected markup cannot run
// script; trusted types 'none' makes the browser refuse string-to-DOM sinks (innerHTML) that
// the page never uses; form-action 'none' because forms are handled by script; frame-ancestors
// 'none' against clickjacking of the sign-in and call buttons.
func contentSecurityPolicy(connectOrigins []string) string {
	connect := append([]string{"'self'"}, connectOrigins...)
	return strings.Join([]string{
		"default-src 'none'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"connect-src " + strings.Join(connect, " "),
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
		"require-trusted-types-for 'script'",
		"trusted-types 'none'",
	}, "; ")
}

// securityHeaders sets the headers common to every console response.
func (c *Console) securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", c.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	// The page is loaded with ?code=...&state=... after sign-in: never send that URL on.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	// A window opened from elsewhere must not keep a handle on the page holding tokens.
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
}

func (c *Console) serveIndex(w http.ResponseWriter, r *http.Request) {
	c.securityHeaders(w.Header())
	// no-store: the page is tiny and its URL may carry an authorization code.
	w.Header().Set("Cache-Control", "no-store")
	c.write(w, r, c.index)
}

func (c *Console) serveConfig(w http.ResponseWriter, _ *http.Request) {
	c.securityHeaders(w.Header())
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(c.configJSON)
}

func (c *Console) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := c.assets[r.PathValue("file")]
	c.securityHeaders(w.Header())
	if !ok {
		http.NotFound(w, r)
		return
	}
	// Revalidate with the content hash: a new binary's assets are picked up at once.
	w.Header().Set("Cache-Control", "no-cache")
	c.write(w, r, a)
}

// write sends an asset with its ETag, answering 304 to a matching If-None-Match.
func (c *Console) write(w http.ResponseWriter, r *http.Request, a asset) {
	w.Header().Set("ETag", a.etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && slices.Contains(strings.Split(strings.ReplaceAll(inm, " ", ""), ","), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(a.body)
}

// loadAssets reads the embedded files once: index.html is the page, the rest are served
// under /assets/ by name (a flat list: no directory listing, no path traversal to think of).
func (c *Console) loadAssets() error {
	return fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		a := asset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		if name := path.Base(p); name == "index.html" {
			c.index = a
		} else {
			c.assets[name] = a
		}
		return nil
	})
}

// AssetNames lists the embedded files served under /assets/ (index.html is served at /).
func AssetNames() []string {
	var names []string
	entries, _ := assetFS.ReadDir("assets")
	for _, e := range entries {
		if !e.IsDir() && e.Name() != "index.html" {
			names = append(names, e.Name())
		}
	}
	return names
}

// discover reads the browser's endpoints from the authority's OpenID discovery document with
// auth.Discover, the one discovery fetch of the project (so that an unreachable authority
// wraps auth.ErrUnreachable: exit 4), and requires the two the page uses.
func discover(ctx context.Context, client *http.Client, authority string) (Endpoints, error) {
	if client == nil {
		client = http.DefaultClient
	}
	// The endpoints the browser is sent to come from the authority configured, never from
	// wherever a redirect points (issue 10), whatever client the caller passed.
	c := *client
	c.CheckRedirect = netx.CheckRedirect
	d, err := auth.Discover(ctx, &c, authority)
	if err != nil {
		return Endpoints{}, err
	}
	if d.AuthorizationEndpoint == "" || d.TokenEndpoint == "" {
		return Endpoints{}, fmt.Errorf("the authority's discovery document %s lacks authorization_endpoint or token_endpoint", auth.DiscoveryURL(authority))
	}
	return Endpoints{Issuer: d.Issuer, AuthorizeEndpoint: d.AuthorizationEndpoint, TokenEndpoint: d.TokenEndpoint}, nil
}

// checkEndpoint parses an authority URL: https, or http on a loopback host only, since the
// code and tokens travel to it.
func checkEndpoint(what, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("the %s %q is not an absolute URL: check --authority", what, raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !netx.IsLoopbackHost(u.Hostname()) {
			return nil, fmt.Errorf("the %s %q must use https", what, raw)
		}
	default:
		return nil, fmt.Errorf("the %s %q must use https", what, raw)
	}
	return u, nil
}

// appendOrigin adds u's origin (scheme://host[:port]) to list unless present.
func appendOrigin(list []string, u *url.URL) []string {
	o := u.Scheme + "://" + u.Host
	if slices.Contains(list, o) {
		return list
	}
	return append(list, o)
}

// withOpenIDScopes appends openid and profile, which give the ID token the account is shown
// from, unless already requested.
func withOpenIDScopes(scopes []string) []string {
	out := slices.Clone(scopes)
	for _, s := range []string{"openid", "profile"} {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
