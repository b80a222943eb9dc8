package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Failures of [NewServerVerifier] besides those of [NewVerifier] (which wrap
// [ErrKeySetUnavailable] or name a refused setting).
var (
	// ErrDiscoveryFailed wraps a failed discovery of the authority. It also matches
	// [ErrUnreachable] when the authority could not be reached (see [IsUnreachable]).
	ErrDiscoveryFailed = errors.New("authority discovery failed")
	// ErrMultiTenantIssuer means the discovered issuer is the template of a multi-tenant
	// authority (common, organizations): .../{tenantid}/v2.0, which no token carries.
	ErrMultiTenantIssuer = errors.New("the authority is multi-tenant")
)

// classedError is err, with its message unchanged, that also matches class.
type classedError struct {
	class, err error
}

func (e *classedError) Error() string   { return e.err.Error() }
func (e *classedError) Unwrap() []error { return []error{e.class, e.err} }

// ServerVerifierConfig is what a resource server (serve, demo) knows about the tokens it
// accepts before anything touches the network. Discovery fills in whatever JWKSURI and Issuers
// leave open; with both given, Authority may be empty (a key set published without a
// discovery document).
type ServerVerifierConfig struct {
	// Authority is https://host/<tenant>, the discovery base.
	Authority string
	// JWKSURI is the key set URL; "" means the discovered one.
	JWKSURI string
	// Issuers are the accepted iss values; none means the discovered ones (DefaultIssuers,
	// plus the v1 issuer an Entra-compatible authority names in its v1 document).
	Issuers []string
	// IssuerTenants binds issuers to tenants (see VerifierConfig.IssuerTenants).
	IssuerTenants map[string]string
	// CustomKeysAppID, when set, asks discovery for the key set of the API's custom signing
	// keys (see WithAppID).
	CustomKeysAppID string
	// Audiences are the accepted aud values (see DefaultAudiences).
	Audiences []string
	// ClockSkew and MaxTokenLifetime are those of VerifierConfig.
	ClockSkew        time.Duration
	MaxTokenLifetime time.Duration
	// HTTPClient fetches the discovery document and the key set; it carries the CA trust.
	HTTPClient *http.Client
	// Logger receives key-set events; nil discards them.
	Logger *slog.Logger
}

// ServerVerifier is a [Verifier] with what a server publishes and logs about it.
type ServerVerifier struct {
	*Verifier
	// AuthorizationServer is the authorization server to publish in the protected resource
	// metadata ([RFC 9728]).
	//
	// [RFC 9728]: https://www.rfc-editor.org/rfc/rfc9728
	AuthorizationServer string
	// JWKSURI and Issuers are those in use, given or discovered.
	JWKSURI string
	Issuers []string
	// Discovered is the discovery document read, "" when none was needed.
	Discovered string
}

// NewServerVerifier discovers what cfg leaves open, then builds the token verifier, which
// fetches the key set at once: an unreachable or wrong authority fails at start, not on the
// first request. Discovery failures wrap [ErrDiscoveryFailed] (and [ErrUnreachable] for a
// network failure), a multi-tenant issuer template [ErrMultiTenantIssuer], and the verifier's
// own failures are those of [NewVerifier].
func NewServerVerifier(ctx context.Context, cfg ServerVerifierConfig) (*ServerVerifier, error) {
	sv := &ServerVerifier{JWKSURI: cfg.JWKSURI, Issuers: slices.Clone(cfg.Issuers)}
	if sv.JWKSURI == "" || len(sv.Issuers) == 0 {
		d, err := DiscoverApp(ctx, cfg.HTTPClient, cfg.Authority, cfg.CustomKeysAppID)
		if err != nil {
			return nil, &classedError{class: ErrDiscoveryFailed, err: err}
		}
		sv.AuthorizationServer = d.Issuer
		sv.Discovered = WithAppID(DiscoveryURL(cfg.Authority), cfg.CustomKeysAppID)
		if sv.JWKSURI == "" {
			sv.JWKSURI = d.JWKSURI
		}
		if len(sv.Issuers) == 0 {
			sv.Issuers = DefaultIssuers(cfg.Authority, d)
			// A multi-tenant authority (common, organizations) publishes the issuer template
			// .../{tenantid}/v2.0, which no token carries: every token would fail as "wrong
			// issuer". Refuse to start rather than reject everything.
			for _, iss := range sv.Issuers {
				if strings.ContainsAny(iss, "{}") {
					return nil, &classedError{class: ErrMultiTenantIssuer,
						err: fmt.Errorf("the authority %s is multi-tenant (its issuer is %s)", cfg.Authority, iss)}
				}
			}
			sv.Issuers = appendV1Issuer(ctx, cfg.HTTPClient, cfg.Authority, sv.Issuers, cfg.Logger)
		}
	}
	// The Entra v2 form https://<host>/<tenant>/v2.0 is what hosts recognise as Microsoft
	// (see entraAuthorizationServer); otherwise the discovered or first accepted issuer.
	if a := entraAuthorizationServer(cfg.Authority); a != "" {
		sv.AuthorizationServer = a
	}
	if sv.AuthorizationServer == "" {
		sv.AuthorizationServer = sv.Issuers[0]
	}
	v, err := NewVerifier(ctx, VerifierConfig{
		JWKSURI:          sv.JWKSURI,
		Issuers:          sv.Issuers,
		IssuerTenants:    cfg.IssuerTenants,
		Audiences:        cfg.Audiences,
		ClockSkew:        cfg.ClockSkew,
		HTTPClient:       cfg.HTTPClient,
		Logger:           cfg.Logger,
		MaxTokenLifetime: cfg.MaxTokenLifetime,
	})
	if err != nil {
		return nil, err
	}
	sv.Verifier = v
	return sv, nil
}

// appendV1Issuer adds the issuer of a non-Microsoft authority's v1 discovery document
// (<authority>/.well-known/openid-configuration), when it exists and differs: an
// Entra-compatible authority issuing v1 tokens (the development authority with
// --token-version 1) names their issuer there, as Entra names https://sts.windows.net/<tid>/.
// Entra hosts need no request: their v1 issuer is known (DefaultIssuers). A missing or
// unreadable document changes nothing: the v2 issuer was found.
func appendV1Issuer(ctx context.Context, client *http.Client, authority string, issuers []string, logger *slog.Logger) []string {
	if IsEntraAuthority(authority) {
		return issuers
	}
	d, found, err := DiscoverV1(ctx, client, authority)
	if err != nil {
		if logger != nil {
			logger.Debug("no v1 discovery document", "authority", authority, "err", err.Error())
		}
		return issuers
	}
	if !found || slices.Contains(issuers, d.Issuer) {
		return issuers
	}
	return append(issuers, d.Issuer)
}

// entraAuthorizationServer is the authorization server a server publishes for an Entra
// authority with a tenant ID, organizations or common: https://<host>/<tenant>/v2.0. VS Code
// signs in with its built-in Microsoft account provider (as its own client ID, which the API
// must pre-authorize) only when authorization_servers[0] matches that provider's
// authorizationServerGlobs, "https://login.microsoftonline.com/*" and
// "https://login.microsoftonline.com/*/v2.0" (microsoft/vscode,
// extensions/microsoft-authentication/package.json; its sovereign-cloud provider declares
// none, so national clouds fall to VS Code's dynamic registration, which Entra lacks). VS Code
// takes the first authorization server only, and its scopes from the 401 challenge's scope=,
// else scopes_supported (src/vs/workbench/api/common/extHostMcp.ts, createAuthMetadata), and
// hands the metadata's resource to the provider as the resource server
// (mainThreadMcp.ts, $getTokenFromServerMetadata): hence full <app-id-uri>/<scope> scopes,
// and an identifier URI equal to --public-url for Entra to accept that resource. A domain
// tenant keeps the discovered issuer (its GUID form), which has the same shape.
func entraAuthorizationServer(authority string) string {
	t := AuthorityTenant(authority)
	if !IsGUID(t) && !IsMultiTenant(t) {
		return ""
	}
	return EntraAuthorizationServer(authority)
}
