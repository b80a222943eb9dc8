package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// maxDocumentBytes bounds what is read of a discovery document or key set: a hostile or broken
// endpoint must not make the server buffer an unbounded body.
const maxDocumentBytes = 1 << 20

// errNotFound marks a 404 answer, after which Discover tries the standard OpenID path.
var errNotFound = errors.New("not found")

// discoveryTimeout bounds the whole discovery request when the caller's context has none.
const discoveryTimeout = 30 * time.Second

// Discovery holds the parts of an OpenID Provider's metadata document ([OpenID Connect
// Discovery 1.0] section 3) this project uses.
//
// [OpenID Connect Discovery 1.0]: https://openid.net/specs/openid-connect-discovery-1_0.html
type Discovery struct {
	Issuer                      string `json:"issuer"`
	JWKSURI                     string `json:"jwks_uri"`
	TokenEndpoint               string `json:"token_endpoint"`
	AuthorizationEndpoint       string `json:"authorization_endpoint"`
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
}

// DiscoveryURL returns the v2.0 metadata URL of an Entra-style authority
// (https://host/<tenant>): <authority>/v2.0/.well-known/openid-configuration.
func DiscoveryURL(authority string) string {
	return strings.TrimRight(authority, "/") + "/v2.0/.well-known/openid-configuration"
}

// Discover fetches the authority's v2.0 OpenID metadata, or, when that path is 404, the
// standard <authority>/.well-known/openid-configuration of other OpenID providers. A transport failure, a timeout or a
// 5xx answer wraps ErrUnreachable; every error names the URL. client nil means
// http.DefaultClient.
func Discover(ctx context.Context, client *http.Client, authority string) (*Discovery, error) {
	return DiscoverApp(ctx, client, authority, "")
}

// DiscoverApp is Discover for an API with custom signing keys: with apiClientID set, the
// discovery URL carries ?appid=<apiClientID> and so does the key set URL it returns (see
// WithAppID).
func DiscoverApp(ctx context.Context, client *http.Client, authority, apiClientID string) (*Discovery, error) {
	if client == nil {
		client = http.DefaultClient
	}
	u := WithAppID(DiscoveryURL(authority), apiClientID)
	var d Discovery
	if err := getJSON(ctx, client, u, discoveryTimeout, &d); err != nil {
		// An OpenID provider that is not Entra-shaped serves its metadata at the standard
		// <issuer>/.well-known/openid-configuration; try it when the v2.0 path does not exist.
		if !errors.Is(err, errNotFound) {
			return nil, fmt.Errorf("could not discover the authority: %w", err)
		}
		u = WithAppID(strings.TrimRight(authority, "/")+"/.well-known/openid-configuration", apiClientID)
		d = Discovery{}
		if err2 := getJSON(ctx, client, u, discoveryTimeout, &d); err2 != nil {
			return nil, fmt.Errorf("could not discover the authority: %w (and %w)", err, err2)
		}
	}
	if d.Issuer == "" || d.JWKSURI == "" {
		return nil, fmt.Errorf("could not discover the authority: %s has no issuer or jwks_uri: check --authority or --tenant-id", u)
	}
	d.JWKSURI = WithAppID(d.JWKSURI, apiClientID)
	return &d, nil
}

// isNotFound reports whether err is a 404 answer of getBounded.
func isNotFound(err error) bool { return errors.Is(err, errNotFound) }

// getJSON GETs u and decodes a JSON body of at most maxDocumentBytes into dst.
func getJSON(ctx context.Context, client *http.Client, u string, timeout time.Duration, dst any) error {
	body, err := getBounded(ctx, client, u, timeout)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return fmt.Errorf("%s did not answer a JSON document: %w", u, err)
	}
	return nil
}

// getBounded GETs u and returns its 200 body, refusing one over maxDocumentBytes. The
// context's own deadline wins when it is shorter than timeout.
func getBounded(ctx context.Context, client *http.Client, u string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w", u, err)
	}
	req.Header.Set("Accept", "application/json")
	// Whatever client the caller gave, a discovery document or a key set is read from the
	// origin configured: following a redirect elsewhere would let whoever answers there choose
	// the keys that decide which tokens are genuine (issue 10).
	c := *client
	c.CheckRedirect = netx.CheckRedirect
	resp, err := c.Do(req)
	if err != nil {
		err = netx.Cause(err) // the message names the URL once
		if errors.Is(err, netx.ErrCrossOriginRedirect) {
			return nil, fmt.Errorf("%s: %w", u, err)
		}
		return nil, fmt.Errorf("could not reach %s: %w: %w", u, ErrUnreachable, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		if resp.StatusCode >= 500 {
			// The authority is there but failing: as good as unreachable for the caller.
			return nil, fmt.Errorf("%s answered %s: %w", u, resp.Status, ErrUnreachable)
		}
		if resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%s answered %s: %w", u, resp.Status, errNotFound)
		}
		return nil, fmt.Errorf("%s answered %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("could not read %s: %w: %w", u, ErrUnreachable, err)
	}
	if len(body) > maxDocumentBytes {
		return nil, fmt.Errorf("%s answered more than %d bytes", u, maxDocumentBytes)
	}
	return body, nil
}

// DefaultIssuers returns the issuers to accept when none are configured: the discovery
// document's issuer and, for an Entra authority (public or national cloud, see entraClouds),
// both that tenant's v2 issuer https://<host>/<tid>/v2.0 and its v1 issuer
// https://<sts host>/<tid>/.
//
// Entra issues v1 tokens unless the API's app registration asks for v2, so accepting only one
// form rejects valid tokens. The tenant ID is taken from the discovery issuer, not from the
// authority, so an authority naming the tenant by domain (contoso.onmicrosoft.com) still
// yields the GUID Entra puts in iss; only this one tenant's issuers are accepted.
func DefaultIssuers(authority string, d *Discovery) []string {
	if d == nil || d.Issuer == "" {
		return nil
	}
	issuers := []string{d.Issuer}
	iu, err := url.Parse(d.Issuer)
	if err != nil {
		return issuers
	}
	// "common" and "organizations" publish the placeholder "{tenantid}": EntraIssuers finds no
	// GUID there, and there is no single tenant to derive issuers for.
	tid, _, _ := strings.Cut(strings.TrimPrefix(iu.Path, "/"), "/")
	derived, ok := EntraIssuers(authority, tid)
	if !ok {
		return issuers
	}
	for _, iss := range derived {
		if iss != d.Issuer {
			issuers = append(issuers, iss)
		}
	}
	return issuers
}

// DefaultAudiences returns the audiences to accept when none are configured: the API's client
// ID (the aud of v2 tokens) and its identifier URI (the aud of v1 tokens): appIDURI, or
// api://<client-id> when it is empty (see AppIDURI). Nothing else: a token for another API of
// the same tenant must not be accepted here.
func DefaultAudiences(apiClientID, appIDURI string) []string {
	var out []string
	if apiClientID != "" {
		out = append(out, apiClientID)
	}
	if u := AppIDURI(apiClientID, appIDURI); u != "" {
		out = append(out, u)
	}
	return out
}
