package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// ErrUnreachable is wrapped by errors that mean the authority, its key set or a server could
// not be reached (connection refused, DNS, TLS, timeout): the CLI exits 4 on it.
var ErrUnreachable = errors.New("unreachable")

// NewHTTPClient returns an HTTP client trusting the system roots plus the PEM bundle in
// caFile (empty for none), with timeouts suited to talking to an authority.
func NewHTTPClient(caFile string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile) //nolint:gosec // G703: the path is the user's own --ca-file
		if err != nil {
			return nil, fmt.Errorf("could not read --ca-file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", caFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = 30 * time.Second
	// A redirect to another origin is not followed: MSAL posts refresh tokens and codes
	// through this client (a 307 would resend them), and a key set or discovery document
	// must come from the origin configured, not from wherever a redirect points (issue 10).
	return &http.Client{Transport: tr, CheckRedirect: netx.CheckRedirect}, nil
}

// IsUnreachable reports whether err is a transport failure (refused, DNS, TLS, timeout)
// rather than an answer from the other side.
func IsUnreachable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrUnreachable) {
		return true
	}
	var (
		netErr  net.Error
		opErr   *net.OpError
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		uaErr   x509.UnknownAuthorityError
		hostErr x509.HostnameError
	)
	return errors.As(err, &opErr) || errors.As(err, &dnsErr) || errors.As(err, &certErr) ||
		errors.As(err, &uaErr) || errors.As(err, &hostErr) || (errors.As(err, &netErr) && netErr.Timeout())
}
