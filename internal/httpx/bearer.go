package httpx

import (
	"net/http"
	"strings"
)

// BearerTransport is an http.RoundTripper that sends every request with the header
// "Authorization: Bearer <Token>", through Base (http.DefaultTransport when nil). It is for
// clients pointed at one server by their user (the load generator, tests): it sends the
// token to whatever host a request names, so it must not follow redirects to other hosts
// on its own (http.Client drops Authorization there only when the caller set it, not when a
// transport adds it).
type BearerTransport struct {
	// Token is the access token; it goes only into the header, never into an error or log.
	Token string
	// Base carries the request; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip sends a copy of r with the Authorization header set, leaving r itself untouched
// as the RoundTripper contract requires.
func (b *BearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.Token)
	base := b.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// BearerToken returns the token of r's "Authorization: Bearer <token>" header (the scheme
// case-insensitive, [RFC 6750] section 2.1), and false when r has none: the one reading of
// what BearerTransport writes, for the server's bearer check, the gateway's On-Behalf-Of
// assertion and the fakes of the tests.
//
// [RFC 6750]: https://www.rfc-editor.org/rfc/rfc6750
func BearerToken(r *http.Request) (string, bool) {
	fields := strings.Fields(r.Header.Get("Authorization"))
	if len(fields) != 2 || !strings.EqualFold(fields[0], "Bearer") {
		return "", false
	}
	return fields[1], true
}
