package devauthority

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// The built-in development user. There are no passwords: approving on the page (or
// AutoApprove) signs this user in.
const (
	devUserName = "Dev User"
)

// devUsername is the preferred_username of the built-in user.
func (a *Authority) devUsername() string { return "dev@" + a.cfg.Tenant + ".localhost" }

// b64 is unpadded base64url, the encoding of JWT segments and client_info (MSAL fails on
// padding).
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// bigEndian is e as minimal big-endian bytes: the JWK "e" member (RFC 7518 section 6.3.1.2).
func bigEndian(e int) []byte {
	var out []byte
	for ; e > 0; e >>= 8 {
		out = append([]byte{byte(e)}, out...)
	}
	return out
}

// deriveGUID makes a stable GUID from the signing key and a label, so that the dev user's
// oid survives restarts with the same state directory and differs between directories.
func deriveGUID(key *rsa.PrivateKey, label string) string {
	m := hmac.New(sha256.New, x509.MarshalPKCS1PrivateKey(key))
	m.Write([]byte(label))
	sum := m.Sum(nil)
	sum[6] = sum[6]&0x0f | 0x50 // version 5 style: name-based
	sum[8] = sum[8]&0x3f | 0x80
	return formatGUID(sum[:16])
}

// pairwiseSub is the sub claim: like Entra's, unique per user and application, so two
// client apps see different subjects for the same person (oid stays the same).
func pairwiseSub(oid, clientID string) string {
	sum := sha256.Sum256([]byte(oid + "\x00" + strings.ToLower(clientID)))
	return b64(sum[:])
}

// sign makes a compact RS256 JWS of claims with the kid header verifiers select the key by.
// RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 section 3.3), the one algorithm Entra
// uses for access and ID tokens.
func (a *Authority) sign(claims map[string]any) (string, error) {
	hdr, err := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": a.km.kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64(hdr) + "." + b64(payload)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, a.km.signKey, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("could not sign token: %w", err)
	}
	return input + "." + b64(sig), nil
}

// userToken describes a delegated access token to mint.
type userToken struct {
	// r is the request, whose host names the issuer (see issuerFor); api the registration the
	// token is for (nil: the main API); scp the short API scope names; lifetime how long the
	// token is valid.
	r        *http.Request
	api      *apiRegistration
	clientID string
	scp      []string
	lifetime time.Duration
}

// accessTokenShape sets the claims that differ between Entra's v1 and v2 access tokens: v2
// has aud = the API's client ID, the v2 issuer, azp, azpacr, preferred_username and ver 2.0;
// v1 (the default of a new Entra registration) aud = the identifier URI, the v1 issuer, appid,
// appidacr, upn, unique_name and ver 1.0. Callers set the v2 names; v1 renames them. See
// https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference.
func (a *Authority) accessTokenShape(claims map[string]any, r *http.Request, api *apiRegistration, clientID string) {
	if api == nil {
		api = a.apis[0]
	}
	if api.version == 1 {
		claims["aud"], claims["appid"], claims["ver"] = api.uri, clientID, "1.0"
		// The claims reference names preferred_username and azpacr "only present in v2.0
		// tokens"; v1 tokens carry the same facts as upn and unique_name (the user's sign-in
		// name) and appidacr. A rule or verifier reading the v2 names must fail here as it
		// fails on Entra's v1 tokens.
		if v, ok := claims["azpacr"]; ok {
			claims["appidacr"] = v
			delete(claims, "azpacr")
		}
		if v, ok := claims["preferred_username"]; ok {
			claims["upn"], claims["unique_name"] = v, v
			delete(claims, "preferred_username")
		}
		if r != nil {
			claims["iss"] = a.issuerV1For(r)
		} else {
			claims["iss"] = a.IssuerV1()
		}
		return
	}
	claims["aud"], claims["azp"], claims["ver"] = api.id, clientID, "2.0"
	if r != nil {
		claims["iss"] = a.issuerFor(r)
	} else {
		claims["iss"] = a.Issuer()
	}
}

// mintUserAccessToken issues an access token for the dev user, shaped like an Entra v2
// token: aud is the API client ID and scp holds short scope names.
// uti is a unique token identifier, as Entra sets one.
func (a *Authority) mintUserAccessToken(t userToken) (string, error) {
	now := a.cfg.Now()
	claims := map[string]any{
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(t.lifetime).Unix(),
		"azpacr":             "0", // public client
		"name":               devUserName,
		"oid":                a.userOID,
		"preferred_username": a.devUsername(),
		"sub":                pairwiseSub(a.userOID, t.clientID),
		"tid":                a.tenantID,
		"uti":                randomToken(16),
	}
	a.accessTokenShape(claims, t.r, t.api, t.clientID)
	if len(t.scp) > 0 {
		// Entra puts short names in scp, never the api://<id>/ form clients request.
		claims["scp"] = strings.Join(t.scp, " ")
	}
	return a.sign(claims)
}

// mintAppAccessToken issues an app-only (client credentials) token: no scp, the API's
// scopes as roles, and the calling app's own object ID as oid and sub.
func (a *Authority) mintAppAccessToken(r *http.Request, clientID string, api *apiRegistration) (string, error) {
	now := a.cfg.Now()
	// No idtyp: Entra adds it only when the API's registration asks for that optional claim
	// (https://learn.microsoft.com/entra/identity-platform/optional-claims-reference), so an API
	// tested here must tell an app-only token by its missing scp, as it must by default on Entra.
	oid := deriveGUID(a.km.signKey, "app-oid:"+strings.ToLower(clientID))
	claims := map[string]any{
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    now.Add(a.cfg.TokenLifetime).Unix(),
		"azpacr": "1", // client secret
		"oid":    oid,
		"sub":    oid,
		"roles":  api.scopes,
		"tid":    a.tenantID,
		"uti":    randomToken(16),
	}
	a.accessTokenShape(claims, r, api, clientID)
	return a.sign(claims)
}

// mintIDToken issues the OpenID Connect id_token for clientID (its aud).
func (a *Authority) mintIDToken(issuer, clientID, nonce string) (string, error) {
	now := a.cfg.Now()
	claims := map[string]any{
		"aud":                clientID,
		"iss":                issuer,
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(idTokenLifetime).Unix(),
		"name":               devUserName,
		"oid":                a.userOID,
		"preferred_username": a.devUsername(),
		"sub":                pairwiseSub(a.userOID, clientID),
		"tid":                a.tenantID,
		"ver":                "2.0",
	}
	// The client's nonce comes back so it can reject a replayed ID token (OpenID Connect
	// Core section 3.1.3.7).
	if nonce != "" {
		claims["nonce"] = nonce
	}
	return a.sign(claims)
}

// clientInfo is MSAL's client_info: unpadded base64url JSON of the home account (uid.utid).
func (a *Authority) clientInfo() string {
	b, _ := json.Marshal(map[string]string{"uid": a.userOID, "utid": a.tenantID})
	return b64(b)
}

// IssueAccessToken mints a delegated access token for the dev user without any flow, with
// exactly the given short scope names in scp (none is allowed: tests of 403 answers) and the
// given lifetime (0 means Config.TokenLifetime). A test helper: the token is as valid as any
// other this authority issues.
func (a *Authority) IssueAccessToken(clientID string, scopes []string, lifetime time.Duration) (string, error) {
	if lifetime <= 0 {
		lifetime = a.cfg.TokenLifetime
	}
	if clientID == "" {
		clientID = DevClientID
	}
	return a.mintUserAccessToken(userToken{clientID: clientID, scp: scopes, lifetime: lifetime})
}

// randomToken returns n random bytes as unpadded base64url.
// Every code and token secret comes from crypto/rand; with n=32, 256 bits.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return b64(b)
}

// hashToken is how refresh tokens and codes are looked up: by their SHA-256, so a memory
// dump or a debug print of the maps shows no usable secret.
// No salt and no slow hash are needed: these are 256-bit random values, not passwords, so
// there is no dictionary to run against the hashes.
func hashToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return b64(sum[:])
}
