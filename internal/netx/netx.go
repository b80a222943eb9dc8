// Package netx holds the network checks that every part of fastmcp-auth must apply the same
// way, so that there is one answer to each question:
//
//   - is a host loopback ([IsLoopbackHost], [IsLoopbackURL])?
//   - may a bearer token be sent to this URL over plain HTTP ([CheckTokenURL])?
//   - may a request follow this redirect, and may this request carry the Authorization header
//     ([CheckRedirect], [GuardAuthorization], [Origin])?
//   - what failed in a request that did not reach its server ([Cause])?
//
// The token checks exist because an outside audit (issue 10) found the client sending its
// bearer token over plain HTTP to any host, and Go's http.Client keeping the Authorization
// header on a redirect to the same host name on another port or scheme, or to a subdomain.
// A token is a password for as long as it lives: it goes only to the origin (scheme, host,
// port) the user named, and over plain HTTP only to this machine unless the user says so.
package netx

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// IsLoopbackHost reports whether host names this machine: "localhost" (any case) or an IP
// address in 127.0.0.0/8 or ::1. host may carry a port ("127.0.0.1:8000", "[::1]:443") and
// IPv6 brackets ("[::1]"). Other names, "foo.localhost" and "localhost." included, are not
// loopback: what they resolve to is up to the resolver, and a check that guards a token must
// not depend on it.
func IsLoopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	// A zone ("::1%lo") is allowed: the address is still this machine's.
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i]
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsLoopbackURL reports whether the absolute URL raw names a loopback host ([IsLoopbackHost]);
// false when raw does not parse.
func IsLoopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	return IsLoopbackHost(u.Hostname())
}

// ErrPlainHTTP is wrapped by the error of [CheckTokenURL]: a token would travel in clear text to
// another machine. The CLI maps it to exit code 2 (usage), since the URL or a flag must change.
var ErrPlainHTTP = errors.New("plain http to a host that is not loopback")

// CheckTokenURL refuses to send a bearer token to raw over plain HTTP when raw's host is not
// loopback, unless allowHTTP (--allow-http, the name mcp-remote uses for the same escape hatch).
// Anyone on the path of a clear-text request can read the token and replay it for its whole
// lifetime; on loopback the request never leaves the machine. Other schemes and unparsable URLs
// pass: the caller's own parsing reports those. Call it before anything is sent, and only when a
// token will be sent (never with --no-auth).
func CheckTokenURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "http") || allowHTTP || IsLoopbackHost(u.Hostname()) {
		return nil
	}
	return &plainHTTPError{host: u.Host}
}

// plainHTTPError is the error of CheckTokenURL; it matches ErrPlainHTTP.
type plainHTTPError struct{ host string }

func (e *plainHTTPError) Error() string {
	return "refusing to send the access token over plain http to " + e.host + ", which is not this machine: anyone on the network path could read it in clear text; use an https URL, or pass --allow-http (FASTMCP_AUTH_ALLOW_HTTP=true) if the network is trusted"
}

// Is makes the error match ErrPlainHTTP.
func (e *plainHTTPError) Is(target error) bool { return target == ErrPlainHTTP }

// Origin returns u's origin as scheme://host:port in lower case, with the scheme's default port
// made explicit (http 80, https 443), so that two URLs have the same origin exactly when their
// Origin strings are equal (RFC 6454 section 4).
func Origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// ErrCrossOriginRedirect is wrapped by the error of [CheckRedirect]: the server redirected the
// request to another origin.
var ErrCrossOriginRedirect = errors.New("redirect to another origin")

// maxRedirects is the redirect limit of net/http's default policy, kept.
const maxRedirects = 10

// CheckRedirect is an http.Client CheckRedirect policy that follows a redirect only within the
// origin of the first request (via[0]) and refuses one to any other origin, with an error
// wrapping [ErrCrossOriginRedirect] that names the new location.
//
// Why refuse rather than follow without the token: Go keeps Authorization on a redirect to the
// same host name on another port or scheme and to subdomains, and a redirected POST (307, 308)
// resends its body, which for a token endpoint holds a refresh token or a code. A key set or a
// discovery document fetched from wherever a redirect points could come from an attacker. And a
// request followed without its token would only fail later with a puzzling 401; the error here
// says where the server points, so the user can decide to use that URL.
func CheckRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	if len(via) > 0 && Origin(req.URL) != Origin(via[0].URL) {
		return fmt.Errorf("%w: %s redirected to %s; not followed, so that no credential leaves %s (use the new URL directly if it is right)",
			ErrCrossOriginRedirect, Origin(via[0].URL), Origin(req.URL), Origin(via[0].URL))
	}
	return nil
}

// Cause returns the error of a failed request without its *url.Error wrapper, which repeats
// the method and URL: the dial, TLS or redirect failure itself, for a message that names the
// server once. Any other error is returned as it is.
func Cause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// GuardAuthorization wraps base (nil means http.DefaultTransport) so that the Authorization
// header goes only to the origin of server: a request to any other origin is sent without it
// (the request is cloned, the caller's stays intact). It is the defence behind [CheckRedirect]
// for whatever sends requests through the client: a redirect followed by another policy, a URL
// taken from a server's answer. server must be an absolute URL.
func GuardAuthorization(base http.RoundTripper, server string) (http.RoundTripper, error) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("not an absolute URL: %q", server)
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return &authGuard{base: base, origin: Origin(u)}, nil
}

// authGuard is the RoundTripper of GuardAuthorization.
type authGuard struct {
	base   http.RoundTripper
	origin string
}

// RoundTrip implements http.RoundTripper.
func (g *authGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "" && Origin(req.URL) != g.origin {
		req = req.Clone(req.Context())
		req.Header.Del("Authorization")
	}
	return g.base.RoundTrip(req)
}

// CloseIdleConnections passes http.Client.CloseIdleConnections on to the wrapped transport.
func (g *authGuard) CloseIdleConnections() {
	if c, ok := g.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
