package mcpserver

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// CORS header values for allowed origins.
const (
	corsAllowMethods  = "GET, POST, DELETE, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, Mcp-Session-Id, Mcp-Protocol-Version, Last-Event-ID"
	corsExposeHeaders = "WWW-Authenticate, Mcp-Session-Id"
	corsMaxAge        = "600"
)

// originPolicy is the Origin check the MCP transport specification requires (a browser page
// of another site must not drive the server with the user's network position), with CORS
// answers for the origins explicitly allowed.
type originPolicy struct {
	self    string              // origin of the public URL
	allowed map[string]struct{} // --allowed-origin values, normalised
}

func newOriginPolicy(pub *url.URL, allowed []string) *originPolicy {
	p := &originPolicy{self: originOf(pub), allowed: map[string]struct{}{}}
	for _, o := range allowed {
		if u, err := url.Parse(strings.TrimSpace(o)); err == nil && u.Host != "" {
			p.allowed[originOf(u)] = struct{}{}
		}
	}
	return p
}

// originOf is scheme://host[:port] in lower case, without a default port.
func originOf(u *url.URL) string {
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if (scheme == "http" && strings.HasSuffix(host, ":80")) || (scheme == "https" && strings.HasSuffix(host, ":443")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return scheme + "://" + host
}

// parsePublicURL parses an absolute http(s) URL.
func parsePublicURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("not an absolute http(s) URL: %q", s)
	}
	return u, nil
}

// check classifies an Origin header value: same-origin (no CORS headers needed), listed
// (CORS headers), or refused. Besides the public URL's origin, a page served by this server
// under another loopback name (http://127.0.0.1:8000 when the public URL says localhost) is
// same-origin: the Origin then equals the request's own loopback Host. Only loopback Hosts
// count, because a DNS-rebinding page also has Origin == Host, but with the attacker's name.
func (p *originPolicy) check(origin string, r *http.Request) (ok, listed bool) {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || u.Path != "" {
		return false, false // "null", garbage
	}
	o := originOf(u)
	if _, in := p.allowed[o]; in {
		return true, true
	}
	if o == p.self {
		return true, false
	}
	if r != nil && netx.IsLoopbackHost(r.Host) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		return o == originOf(&url.URL{Scheme: scheme, Host: r.Host}), false
	}
	return false, false
}

// wrap applies the policy. The protected resource metadata stays open to every origin: it is
// public by design (RFC 9728) and served with "Access-Control-Allow-Origin: *".
func (p *originPolicy) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || strings.HasPrefix(r.URL.Path, WellKnownPRM) {
			next.ServeHTTP(w, r)
			return
		}
		ok, listed := p.check(origin, r)
		if !ok {
			noteReason(r, "origin_not_allowed")
			writeError(w, http.StatusForbidden, "forbidden_origin",
				"this origin may not call the server: add it with --allowed-origin (FASTMCP_AUTH_ALLOWED_ORIGIN)")
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		if listed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			// Preflights carry no Authorization header, so they are answered here, before
			// the token check.
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
