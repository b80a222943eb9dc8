package commands

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
	"github.com/fastmcp-auth/fastmcp-auth/mcpserver"
	"github.com/urfave/cli/v2"
)

// serveSettings is what the serve flags resolve to before anything touches the network.
type serveSettings struct {
	Addr             string
	Path             string
	PublicURL        string
	NoAuth           bool
	Authority        string // empty when --jwks-uri and --issuer make discovery needless
	JWKSURI          string // empty: from discovery
	Issuers          []string
	IssuerTenants    map[string]string // multi-tenant: each accepted issuer's tenant (tid)
	CustomKeysAppID  string            // --custom-signing-keys: the appid of discovery and key set
	Audiences        []string
	RequiredScopes   []string // short names, as scp carries them
	AppIDURI         string   // the API's identifier URI: prefix of the advertised scopes
	ClockSkew        time.Duration
	MaxTokenLifetime time.Duration
	Stateless        bool
	ProgressInterval time.Duration
	TLSCert, TLSKey  string
	TLSPair          *tls.Certificate // the pair of TLSCert and TLSKey, loaded with the settings
	AllowedOrigins   []string
	CAFile           string
	Discovered       string // the discovery document read at start, "" when none was needed
	derivedURL       bool   // PublicURL came from Addr: recomputed once the port is known
}

// serveSettingsFromFlags validates the flags; every error is a usage error naming the flag.
func serveSettingsFromFlags(c *cli.Context) (*serveSettings, error) {
	s := &serveSettings{
		NoAuth:           c.Bool(flagNoAuth),
		Stateless:        c.Bool(flagStateless),
		ClockSkew:        c.Duration(flagClockSkew),
		MaxTokenLifetime: c.Duration(flagMaxTokenLifetime),
		ProgressInterval: c.Duration(flagProgressInterval),
		TLSCert:          strings.TrimSpace(c.String(flagTLSCert)),
		TLSKey:           strings.TrimSpace(c.String(flagTLSKey)),
		CAFile:           strings.TrimSpace(c.String(flagCAFile)),
		JWKSURI:          strings.TrimSpace(c.String(flagJWKSURI)),
		Issuers:          cleanList(c.StringSlice(flagIssuer)),
		Audiences:        cleanList(c.StringSlice(flagAudience)),
		RequiredScopes:   cleanList(c.StringSlice(flagRequiredScope)),
	}

	for _, iss := range s.Issuers {
		if !validIssuer(iss) {
			return nil, usageErrorf("--%s must be an issuer URL as the tokens' iss claim has it, such as https://login.microsoftonline.com/<tenant-id>/v2.0 or https://sts.windows.net/<tenant-id>/ (https, or http on loopback), not %q",
				flagIssuer, iss)
		}
	}

	// --addr has no Value: an explicit address, even 0.0.0.0 with --no-auth, is obeyed, and
	// only the default depends on --no-auth.
	s.Addr = strings.TrimSpace(c.String(flagAddr))
	if s.Addr == "" {
		s.Addr = defaultServeAddr
		if s.NoAuth {
			// Without a token check anyone who can connect can call the tools: stay local
			// unless told otherwise.
			s.Addr = defaultNoAuthServeAddr
		}
	}
	if err := checkListenAddr(flagAddr, s.Addr, defaultServeAddr); err != nil {
		return nil, err
	}

	s.Path = strings.TrimSpace(c.String(flagPath))
	if !mcpserver.ValidPath(s.Path) {
		return nil, usageErrorf("--%s must be a path such as /mcp, not %q", flagPath, s.Path)
	}

	// One without the other is a mistake: refuse it rather than guess whether TLS was meant.
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return nil, usageErrorf("--%s and --%s must be given together", flagTLSCert, flagTLSKey)
	}
	if s.TLSCert != "" {
		pair, err := loadTLSPair(s.TLSCert, s.TLSKey)
		if err != nil {
			return nil, err
		}
		s.TLSPair = pair
	}
	if s.ClockSkew < 0 {
		return nil, usageErrorf("--%s must not be negative (%s): give a duration such as 60s, or 0s for none", flagClockSkew, s.ClockSkew)
	}
	if s.MaxTokenLifetime <= 0 {
		return nil, usageErrorf("--%s must be a positive duration such as 48h, not %s", flagMaxTokenLifetime, s.MaxTokenLifetime)
	}
	if s.ProgressInterval < 0 {
		return nil, usageErrorf("--%s must not be negative (%s): give a duration such as 1s, or 0s for no pause", flagProgressInterval, s.ProgressInterval)
	}

	// The public URL is the resource of the protected resource metadata (RFC 9728), which
	// clients match against the URL they called: behind a proxy it must be given, since the
	// listen address is not what clients see.
	if p := strings.TrimSpace(c.String(flagPublicURL)); p != "" {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return nil, usageErrorf("--%s must be the absolute http(s) URL of the MCP endpoint, such as https://mcp.example.com/mcp, not %q", flagPublicURL, p)
		}
		s.PublicURL = strings.TrimSuffix(p, "/")
		if strings.TrimSuffix(u.Path, "/") == "" {
			s.PublicURL += s.Path
		}
	} else {
		s.PublicURL = derivePublicURL(s.Addr, s.TLSCert != "", s.Path)
		s.derivedURL = true
	}

	// Origins are exact scheme://host[:port] values, checked up front: a path or a typo
	// would silently never match, and the browser calls would be refused at run time.
	for _, o := range cleanList(c.StringSlice(flagAllowedOrigin)) {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" {
			return nil, usageErrorf("--%s takes an origin scheme://host[:port], such as https://app.example.com, not %q", flagAllowedOrigin, o)
		}
		s.AllowedOrigins = append(s.AllowedOrigins, o)
	}

	// The identifier URI prefixes the scopes advertised in the metadata and the challenges:
	// clients request exactly those (MCP "Scope Selection Strategy"), and Entra resolves a
	// bare "execute" against Microsoft Graph. Without --app-id-uri and --api-client-id, an
	// --audience that is a URI is the best guess (it is the aud of v1 tokens).
	uri, err := appIDURI(c)
	if err != nil {
		return nil, err
	}
	if uri == "" {
		for _, a := range s.Audiences {
			if strings.Contains(a, "://") {
				uri = strings.TrimRight(a, "/")
				break
			}
		}
	}
	s.AppIDURI = uri

	if len(s.RequiredScopes) == 0 {
		s.RequiredScopes = []string{defaultRequiredScope}
	}
	for i, sc := range s.RequiredScopes {
		// Entra puts the short name in scp, so that is what is matched; the full form of
		// this API (<app-id-uri>/execute) is accepted and shortened. Requiring the long form
		// as such would reject every token.
		name, ok := auth.ShortScope(s.AppIDURI, sc)
		if !ok || strings.ContainsAny(name, " \"\\,") {
			return nil, usageErrorf("--%s takes a scope name such as %s, or its full form <app-id-uri>/%s (app-id-uri %q), not %q",
				flagRequiredScope, defaultRequiredScope, defaultRequiredScope, s.AppIDURI, sc)
		}
		s.RequiredScopes[i] = name
	}

	// With --no-auth no token is checked, so no authority or audience is needed.
	if s.NoAuth {
		return s, nil
	}
	// Discovery fills in whatever --jwks-uri and --issuer leave open; with both given, no
	// authority is needed (a key set published without a discovery document).
	allowed := cleanList(c.StringSlice(flagAllowedTenant))
	if s.JWKSURI == "" || len(s.Issuers) == 0 || len(allowed) > 0 {
		a, err := authorityURL(c)
		if err != nil {
			return nil, usageErrorf("%v (or give both --%s and --%s)", err, flagJWKSURI, flagIssuer)
		}
		s.Authority = a
	}
	tenant := auth.AuthorityTenant(s.Authority)
	if len(allowed) > 0 && len(s.Issuers) > 0 {
		// Both would name the accepted issuers: refuse rather than silently ignore one.
		return nil, usageErrorf("give --%s or --%s, not both: --%s already lists the accepted issuers", flagAllowedTenant, flagIssuer, flagIssuer)
	}
	switch {
	case len(s.Issuers) > 0:
		// Explicit issuers are obeyed as they are.
	case auth.IsMultiTenant(tenant):
		// A multi-tenant API accepts the tenants it names, and only those: any tenant's user
		// can get a token for it, so "every tenant" would mean every Entra customer.
		if len(allowed) == 0 {
			return nil, usageErrorf("--%s %s is multi-tenant (users of any tenant can sign in): list the tenants to accept with --%s TENANT-ID (repeatable, or %s as a comma list), or list the issuers with --%s",
				flagTenantID, tenant, flagAllowedTenant, envVar(flagAllowedTenant)[0], flagIssuer)
		}
		iss, tenantOf, err := auth.AllowedTenantIssuers(s.Authority, allowed)
		if err != nil {
			return nil, usageErrorf("--%s: %v", flagAllowedTenant, err)
		}
		s.Issuers, s.IssuerTenants = iss, tenantOf
	case s.JWKSURI != "":
		// A GUID tenant in a Microsoft cloud names both of its issuers: with the key set
		// given too, the server starts without contacting the authority (air-gapped hosts,
		// or an authority briefly down while the server restarts).
		if iss, ok := auth.EntraIssuers(s.Authority, tenant); ok {
			s.Issuers = iss
		}
	}
	if len(allowed) > 0 && !auth.IsMultiTenant(tenant) {
		return nil, usageErrorf("--%s applies to a multi-tenant API only (--%s organizations or common); a single tenant's tokens are the only ones accepted already",
			flagAllowedTenant, flagTenantID)
	}
	if c.Bool(flagCustomKeys) {
		s.CustomKeysAppID = strings.TrimSpace(c.String(flagAPIClientID))
		if s.CustomKeysAppID == "" {
			return nil, usageErrorf("--%s needs --%s (or %s): Entra serves an app's custom keys for ?appid=<api-client-id>",
				flagCustomKeys, flagAPIClientID, envVar(flagAPIClientID)[0])
		}
		if s.JWKSURI != "" {
			s.JWKSURI = auth.WithAppID(s.JWKSURI, s.CustomKeysAppID)
		}
	}
	// No default audience without the API's client ID: accepting any aud would let a
	// token issued for another API of the same tenant call this server.
	if len(s.Audiences) == 0 {
		id := strings.TrimSpace(c.String(flagAPIClientID))
		if id == "" {
			return nil, usageErrorf("--%s is required (or set %s), or give --%s", flagAPIClientID, envVar(flagAPIClientID)[0], flagAudience)
		}
		s.Audiences = auth.DefaultAudiences(id, s.AppIDURI)
	}
	return s, nil
}

// derivePublicURL builds the MCP endpoint URL from the listen address: a wildcard or empty
// host becomes localhost, which is what a local client can reach.
func derivePublicURL(addr string, tls bool, path string) string {
	host, port, _ := net.SplitHostPort(addr)
	switch host {
	case "", "0.0.0.0", "::", "[::]":
		host = "localhost"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return scheme + "://" + hostForURL(host) + path
	}
	return scheme + "://" + net.JoinHostPort(host, port) + path
}

// hostForURL brackets an IPv6 literal so it can stand in a URL's host.
func hostForURL(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// cleanList trims the entries of a repeatable flag and drops empty ones.
func cleanList(in []string) []string {
	var out []string
	for _, v := range in {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// validIssuer reports whether iss can be an accepted issuer: an absolute https URL without
// query or fragment, which is what OpenID Connect Discovery 1.0 section 3 requires of an
// issuer, and what Entra's are: https://login.microsoftonline.com/<tid>/v2.0 (v2 tokens) and
// https://sts.windows.net/<tid>/ (v1), per
// https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference
// ("iss"); the development authority's is https://<addr>/<tid>/v2.0. Plain http is accepted for
// a loopback host only (a local test issuer), as for --jwks-uri. A value that is no URL can
// never equal a token's iss: every token would be refused at run time.
func validIssuer(iss string) bool {
	u, err := url.Parse(iss)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.ContainsAny(iss, " \t") {
		return false
	}
	return u.Scheme == "https" || (u.Scheme == "http" && netx.IsLoopbackHost(u.Hostname()))
}

// loadTLSPair reads and checks the key pair of --tls-cert and --tls-key with the other
// settings: a missing file or a key of another certificate is exit 2 naming the flag, not a
// failure after the authority was contacted.
func loadTLSPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fileFlagError("read", flagTLSCert, certFile, err, "give the path of a PEM certificate file")
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fileFlagError("read", flagTLSKey, keyFile, err, "give the path of the PEM private key of --"+flagTLSCert)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, usageErrorf("--%s %s and --%s %s are not a usable key pair: %v: give a PEM certificate and its own unencrypted private key",
			flagTLSCert, certFile, flagTLSKey, keyFile, err)
	}
	return &pair, nil
}

// checkListenAddr validates a listen address given to flag: host:port, where the host is empty,
// an IP address or a host name, and the port a number from 0 to 65535 (0 picks a free one).
// It runs with the other settings, so that a typo is exit 2 at once rather than a listen
// failure after the authority was contacted, with a hint to free a port that cannot exist.
func checkListenAddr(flag, addr, example string) error {
	host, port, err := net.SplitHostPort(addr)
	n, perr := strconv.Atoi(port)
	if err != nil || perr != nil || n < 0 || n > 65535 || strings.TrimLeft(port, "0123456789") != "" || !validListenHost(host) {
		return usageErrorf("--%s must be host:port with an IP address or host name and a port from 0 to 65535, such as %s, not %q", flag, example, addr)
	}
	return nil
}

// validListenHost reports whether host can stand in a listen address: empty (every
// interface), an IP address (an IPv6 one may carry a zone), or a host name of letters, digits,
// '-' and '_' in dot-separated labels. Labels that are all digits but no IP address (999.1.1.1)
// are a mistyped address, which the resolver would otherwise look up as a name.
func validListenHost(host string) bool {
	if host == "" {
		return true
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	numeric := true
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			switch {
			case r >= '0' && r <= '9':
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-', r == '_':
				numeric = false
			default:
				return false
			}
		}
	}
	return !numeric
}

// listenError is the error of a listen on addr (given by flag) that failed. Only a port in use
// gets the hint to free it; an address that is not this machine's, a privileged port and a
// name that does not resolve each get their own fix.
func listenError(flag, addr string, err error) error {
	var dnsErr *net.DNSError
	hint := "check --" + flag
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		hint = "free the port or choose another --" + flag
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		hint = "the host is not an address of this machine: give one of its addresses in --" + flag + ", or 0.0.0.0 for all"
	case errors.Is(err, syscall.EACCES):
		hint = "the port needs privileges (below 1024): choose a higher port in --" + flag
	case errors.As(err, &dnsErr):
		hint = "the host name does not resolve: give an address of this machine in --" + flag
	}
	return fmt.Errorf("could not listen on %s: %w: %s", addr, err, hint)
}
