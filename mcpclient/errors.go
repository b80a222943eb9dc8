package mcpclient

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// AuthError is a 401 or 403 answer from the MCP server, with its WWW-Authenticate challenge
// parsed ([RFC 6750] section 3). It never holds the token that was sent.
//
// [RFC 6750]: https://www.rfc-editor.org/rfc/rfc6750#section-3
type AuthError struct {
	// Status is the HTTP status: 401 (no or bad token) or 403 (token lacks a scope, or the
	// server refused the request for another reason such as its Host check).
	Status int
	// Code is the challenge's error parameter: invalid_token, insufficient_scope, ...
	Code string
	// Description is error_description, or for a bare answer the first line of its body.
	Description string
	// Scope is the challenge's scope parameter: the scopes the resource requires.
	Scope string
	// ResourceMetadata is the URL of the protected resource metadata ([RFC 9728]).
	//
	// [RFC 9728]: https://www.rfc-editor.org/rfc/rfc9728
	ResourceMetadata string
}

// Error is a one-line message saying what went wrong and what to do next.
func (e *AuthError) Error() string {
	detail := e.detail()
	switch {
	case e.Status == 403 && (e.Code == "insufficient_scope" || (e.Code == "" && e.Scope != "")):
		scope := e.Scope
		if scope == "" {
			scope = "(not named by the server)"
		}
		if e.Scope == "" {
			return fmt.Sprintf("the server refused the token (HTTP 403%s); missing scope: %s: "+
				"sign in for the scopes the server needs with fastmcp-auth login --force --scope SCOPE "+
				"and pass the same --scope to this command, or have an administrator grant them", detail, scope)
		}
		// The challenge's scope lists every scope the server requires (RFC 6750 section 3), not
		// only the missing ones, so the hint asks for all of them, and for them to be passed to
		// this command too: a token for fewer scopes stays cached and would be picked again.
		return fmt.Sprintf("the server refused the token (HTTP 403%s); missing scope: %s: "+
			"run fastmcp-auth login --force%s and pass the same --scope flags (or FASTMCP_AUTH_SCOPE) to this command, "+
			"or have an administrator grant them",
			detail, scope, scopeFlags(e.Scope))
	case e.Status == 403:
		return fmt.Sprintf("the server refused the request (HTTP 403%s): check --server and the token's permissions", detail)
	case e.Code == "":
		// RFC 6750 section 3.1: no error code means the request carried no token.
		return "the server requires a bearer token (HTTP 401): run fastmcp-auth login, or set FASTMCP_AUTH_TOKEN"
	default:
		return fmt.Sprintf("the server rejected the token (HTTP %d%s): run fastmcp-auth login", e.Status, detail)
	}
}

// scopeFlags renders " --scope <app-id-uri>/a --scope <app-id-uri>/b" for the
// short scope names of a challenge; a full scope (with "/") is kept as it is.
func scopeFlags(scopes string) string {
	var b strings.Builder
	for _, s := range strings.Fields(scopes) {
		if !strings.Contains(s, "/") {
			s = "<app-id-uri>/" + s
		}
		b.WriteString(" --scope " + s)
	}
	return b.String()
}

// detail renders ": code: description" for the parts the server gave.
func (e *AuthError) detail() string {
	var parts []string
	if e.Code != "" {
		parts = append(parts, e.Code)
	}
	if e.Description != "" {
		parts = append(parts, e.Description)
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, ": ")
}

// newAuthError builds an AuthError from a status, a WWW-Authenticate header and the start of
// the body (used when the challenge carries no description).
func newAuthError(status int, wwwAuthenticate, body string) *AuthError {
	e := &AuthError{Status: status}
	if scheme, params := ParseWWWAuthenticate(wwwAuthenticate); strings.EqualFold(scheme, "bearer") {
		e.Code = params["error"]
		e.Description = params["error_description"]
		e.Scope = params["scope"]
		e.ResourceMetadata = params["resource_metadata"]
	}
	if e.Description == "" {
		// Some servers explain only in the body, as text or as an OAuth-style JSON error.
		var j struct {
			Description string `json:"error_description"`
		}
		if json.Unmarshal([]byte(body), &j) == nil {
			body = j.Description
		}
		e.Description = sanitizeLine(body, 200)
	}
	return e
}

// sanitizeLine keeps the first line of s, without control characters, at most limit bytes: a
// server's text is shown to the user but must not be able to rewrite their terminal.
func sanitizeLine(s string, limit int) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if len(s) > limit {
		s = s[:limit] + "..."
	}
	return s
}

// UpstreamAuthError is a JSON-RPC error by which a fastmcp-auth gateway or proxy says that only
// the user can fix the request: its token for the server behind could not be had (consent
// or MFA for an On-Behalf-Of exchange, a sign-in) or lacks a scope. The server's message says
// what to do; it is kept as is, and the CLI exits 3 as for a 401 or 403 of its own.
type UpstreamAuthError struct {
	// URL is the MCP endpoint, with any password redacted.
	URL string
	// Code is the JSON-RPC error code (-32030 unauthorized, -32031 forbidden).
	Code int64
	// Message is the server's error message.
	Message string
}

// Error names the server and gives its message, which says what to do.
func (e *UpstreamAuthError) Error() string {
	return fmt.Sprintf("mcp server %s: %s", e.URL, e.Message)
}

// UnreachableError means the MCP server could not be reached: connection refused, DNS,
// TLS, timeout, or no MCP endpoint at the URL (HTTP 404 before any session).
type UnreachableError struct {
	// URL is the MCP endpoint, with any password redacted.
	URL string
	// Err is the underlying cause.
	Err error
}

// Error names the URL, the cause and what to check.
func (e *UnreachableError) Error() string {
	hint := "check --server and that the server is running"
	if isTLSError(e.Err) {
		hint = "check --server, or trust the server's CA with --ca-file"
	}
	return fmt.Sprintf("cannot reach the MCP server at %s: %v: %s", e.URL, e.Err, hint)
}

// Unwrap returns the cause; UnreachableError also matches [auth.ErrUnreachable].
func (e *UnreachableError) Unwrap() []error { return []error{e.Err, auth.ErrUnreachable} }

// ErrConnectionLost is the cause of an UnreachableError when the server closed a call's
// stream before sending its result (the server was stopped, or the connection broke).
var ErrConnectionLost = errors.New("the server closed the connection before answering (stopped or restarted?)")

// sdkStreamEnded is the go-sdk's message (a plain error, no sentinel) for a call whose
// response stream ended without a response.
const sdkStreamEnded = "request terminated without response"

// errEndpointNotFound is the cause when the server answered 404 to a request opening a session.
var errEndpointNotFound = errors.New("HTTP 404 Not Found: no MCP endpoint at this path")

// unreachable wraps err as an UnreachableError for endpoint, keeping the innermost useful
// cause (the *url.Error's own error, which names the dial or TLS failure).
func unreachable(endpoint string, err error) *UnreachableError {
	return &UnreachableError{URL: redactURL(endpoint), Err: netx.Cause(err)}
}

// redactURL hides a password in the URL's user info.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}

// isTLSError reports a certificate or handshake failure.
func isTLSError(err error) bool {
	var (
		certErr *tls.CertificateVerificationError
		recErr  tls.RecordHeaderError
		uaErr   x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
	)
	return errors.As(err, &certErr) || errors.As(err, &recErr) || errors.As(err, &uaErr) ||
		errors.As(err, &hostErr) || errors.As(err, &invErr)
}

// ParseWWWAuthenticate parses the first challenge of a WWW-Authenticate header; it is
// [auth.ParseWWWAuthenticate], kept here for the callers of this package.
func ParseWWWAuthenticate(h string) (scheme string, params map[string]string) {
	return auth.ParseWWWAuthenticate(h)
}
