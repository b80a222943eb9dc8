package auth

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// unreachable is unreachableAuthority for l's authority.
func (l *Login) unreachable(err error) error { return unreachableAuthority(l.cfg.Authority, err) }

// unreachableAuthority names the authority and the transport failure, without MSAL's request
// dump. Every MSAL client of the package (sign-in, client credentials, On-Behalf-Of) words its
// transport failures this way.
func unreachableAuthority(authority string, err error) error {
	cause := err
	var opErr *net.OpError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var uaErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &certErr):
		cause = certErr.Err
	case errors.As(err, &uaErr):
		cause = uaErr
	case errors.As(err, &hostErr):
		cause = hostErr
	case errors.As(err, &dnsErr):
		cause = dnsErr
	case errors.As(err, &opErr):
		cause = opErr.Err
	}
	hint := "check --authority and the network"
	if certErr != nil || uaErr.Cert != nil || hostErr.Certificate != nil {
		hint = "check --ca-file"
	}
	return &unreachableError{
		msg:   fmt.Sprintf("could not reach the authority %s: %v: %s", authority, cause, hint),
		cause: err,
	}
}

// unreachableError is a one-line message that matches both ErrUnreachable and the
// transport error beneath it.
type unreachableError struct {
	msg   string
	cause error
}

func (e *unreachableError) Error() string   { return e.msg }
func (e *unreachableError) Unwrap() []error { return []error{ErrUnreachable, e.cause} }

// loginOAuthErr is the JSON error answer of an OAuth endpoint.
type loginOAuthErr struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// String renders the code and the first sentence of the description (Entra appends trace
// and correlation IDs, which do not help the user).
func (e loginOAuthErr) String() string {
	d := e.Description
	if i := strings.Index(d, "Trace ID:"); i >= 0 {
		d = d[:i]
	}
	d = strings.TrimSpace(d)
	if d == "" {
		return e.Error
	}
	return e.Error + " (" + d + ")"
}

// loginOAuthError extracts the OAuth error answer from an MSAL error. MSAL has drained the
// response body by then (see ../shared/notes/msal-go.md), but its message carries the body.
func loginOAuthError(err error) (loginOAuthErr, bool) {
	var oe loginOAuthErr
	if !callErrorBody(err, &oe) || oe.Error == "" {
		return loginOAuthErr{}, false
	}
	return oe, true
}

// callErrorBody decodes into v the JSON body that an MSAL call error's message carries.
func callErrorBody(err error, v any) bool {
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) {
		return false
	}
	msg := err.Error()
	i := strings.Index(msg, "{")
	return i >= 0 && json.NewDecoder(strings.NewReader(msg[i:])).Decode(v) == nil
}

// loginSafeMessage shortens an MSAL error to its first line: later lines may carry a response
// body, and the first names the call.
func loginSafeMessage(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(strings.TrimSpace(s), ":")
}
