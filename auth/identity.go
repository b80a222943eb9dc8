// Package auth verifies OAuth bearer tokens issued by Microsoft Entra ID or any
// Entra-compatible authority, and signs users in with the device code flow through MSAL Go,
// keeping a locked, atomically written token cache. It never logs, prints or puts in an error
// a token, refresh token or device code.
//
// Verification is this package's own code: it splits the compact JWS, allows only asymmetric
// algorithms matched to the key type, checks the claims (iss, aud, exp, nbf, iat) and caches
// the result; jwx only parses the key set (JWK) and checks the signature bytes with the key
// the token's kid names. Owning that path keeps the checks, their order and the messages a
// client sees in one place (see Verifier.Verify), and bounds the work a forged token can cause.
package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
)

// ErrInvalidToken is wrapped by every verification failure; servers answer it with 401 and
// error="invalid_token" ([RFC 6750] section 3.1).
//
// [RFC 6750]: https://www.rfc-editor.org/rfc/rfc6750
var ErrInvalidToken = errors.New("invalid token")

// Reason is the machine-readable cause of a verification failure.
type Reason string

// Reasons a token is rejected. Each is reported to the client in error_description, because
// telling "expired" from "wrong audience" is what users of other verifiers keep asking for; none
// of them reveals the token or the server's internals.
const (
	ReasonMalformed            Reason = "malformed"
	ReasonTooLarge             Reason = "too_large"
	ReasonUnsupportedAlgorithm Reason = "unsupported_algorithm"
	ReasonUnknownKey           Reason = "unknown_key"
	ReasonBadSignature         Reason = "bad_signature"
	ReasonExpired              Reason = "expired"
	ReasonNotYetValid          Reason = "not_yet_valid"
	ReasonMissingExpiration    Reason = "missing_expiration"
	ReasonWrongAudience        Reason = "wrong_audience"
	ReasonWrongIssuer          Reason = "wrong_issuer"
	ReasonNoSubject            Reason = "no_subject"        // neither sub nor oid
	ReasonLifetimeTooLong      Reason = "lifetime_too_long" // exp beyond VerifierConfig.MaxTokenLifetime
)

// TokenError is a verification failure. Its message is safe to send to the client.
type TokenError struct {
	Reason Reason
	// Description is a short human sentence, e.g. "token expired at 2026-01-02T15:04:05Z".
	Description string
}

// Error returns the description, safe for a WWW-Authenticate error_description.
func (e *TokenError) Error() string { return e.Description }

// Unwrap makes every TokenError match ErrInvalidToken.
func (e *TokenError) Unwrap() error { return ErrInvalidToken }

// Identity is the verified caller, taken from the token's claims. It never holds the token.
type Identity struct {
	Subject  string    // sub
	ObjectID string    // oid (Entra user or service principal object ID)
	TenantID string    // tid
	ClientID string    // azp (v2) or appid (v1): the app that asked for the token
	Name     string    // name
	Username string    // preferred_username, or upn for v1 tokens
	Issuer   string    // iss
	Audience []string  // aud
	Scopes   []string  // scp (or scope), split on spaces
	Roles    []string  // roles (app roles; app-only tokens carry only these)
	Expiry   time.Time // exp
	KeyID    string    // kid of the signing key
	Version  string    // ver: "1.0" or "2.0" when present
	// Claims is the verified token's payload (JSON), for authorization policies that look at
	// claims not modelled above (groups, _claim_names, custom claims). Never modify it.
	Claims []byte
}

// AppOnly reports whether the token was issued to an application on its own behalf (client
// credentials): it then has roles and no delegated scopes.
func (id *Identity) AppOnly() bool { return len(id.Scopes) == 0 }

// User returns the stable identifier sessions are bound to: oid, else sub.
func (id *Identity) User() string {
	if id.ObjectID != "" {
		return id.ObjectID
	}
	return id.Subject
}

// Missing returns the required scopes the identity lacks. Delegated tokens are checked
// against their scopes; app-only tokens, which have no scp, against their roles.
func (id *Identity) Missing(required []string) []string {
	granted := id.Scopes
	if id.AppOnly() {
		granted = id.Roles
	}
	var missing []string
	for _, r := range required {
		if !slices.Contains(granted, r) {
			missing = append(missing, r)
		}
	}
	return missing
}

// clone returns a copy the caller may modify without touching the cache.
func (id *Identity) clone() *Identity {
	c := *id
	c.Audience = slices.Clone(id.Audience)
	c.Scopes = slices.Clone(id.Scopes)
	c.Roles = slices.Clone(id.Roles)
	return &c
}

// ErrNotJWT means an access token is opaque to the client (not a JWT it can decode), as
// some Microsoft first-party tokens are; [UnverifiedIdentity] cannot describe it.
var ErrNotJWT = errors.New("the access token is not a JWT the client can decode")

// UnverifiedIdentity decodes the claims of a JWT access token WITHOUT verifying its
// signature, issuer or audience. It exists for display (`whoami`) only: the client holding
// a token learns nothing trustworthy from it, and only the resource server's verification
// counts. Never base an access decision on its result.
func UnverifiedIdentity(accessToken string) (*Identity, error) {
	parts := strings.Split(accessToken, ".")
	if len(parts) != 3 {
		return nil, ErrNotJWT
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, ErrNotJWT
	}
	var c struct {
		Sub, Oid, Tid, Azp, Appid, Name, Iss, Ver, Scp, Scope, Upn string
		PreferredUsername                                          string          `json:"preferred_username"`
		Aud                                                        json.RawMessage `json:"aud"`
		Roles                                                      []string        `json:"roles"`
		Exp                                                        json.Number     `json:"exp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, ErrNotJWT
	}
	var header struct {
		Kid string `json:"kid"`
	}
	if h, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[0], "=")); err == nil {
		_ = json.Unmarshal(h, &header)
	}
	id := &Identity{
		Subject: c.Sub, ObjectID: c.Oid, TenantID: c.Tid, ClientID: c.Azp, Name: c.Name,
		Username: c.PreferredUsername, Issuer: c.Iss, Roles: c.Roles, KeyID: header.Kid, Version: c.Ver,
	}
	if id.ClientID == "" {
		id.ClientID = c.Appid
	}
	if id.Username == "" {
		id.Username = c.Upn
	}
	scp := c.Scp
	if scp == "" {
		scp = c.Scope
	}
	if scp != "" {
		id.Scopes = strings.Fields(scp)
	}
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		id.Audience = []string{one}
	} else {
		_ = json.Unmarshal(c.Aud, &id.Audience)
	}
	if f, err := c.Exp.Float64(); err == nil && f > 0 {
		id.Expiry = time.Unix(int64(f), 0).UTC()
	}
	return id, nil
}
