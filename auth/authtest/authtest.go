// Package authtest provides test helpers for code that verifies Entra-style bearer tokens:
// signing keys made inside the test, token minting (honest and forged), Entra-shaped claim
// sets, and a loopback key-set (JWKS) server that counts its fetches and can be made to fail.
//
// It is meant for tests only: keys are generated per test and never persisted, and nothing
// here talks to a real identity provider.
package authtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Key is a signing key pair with its key ID (kid).
type Key struct {
	// KeyID is the kid put in the token header and in the published JWK.
	KeyID string
	// Signer is the private key: *rsa.PrivateKey, *ecdsa.PrivateKey or ed25519.PrivateKey.
	Signer crypto.Signer
}

// NewKey returns a fresh RSA 2048 key with the given kid, the kind Entra ID signs with.
func NewKey(t testing.TB, kid string) *Key {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("authtest: could not generate an RSA key: %v", err)
	}
	return &Key{KeyID: kid, Signer: priv}
}

// NewECKey returns a fresh ECDSA key on the given curve (elliptic.P256() for ES256).
func NewECKey(t testing.TB, kid string, curve elliptic.Curve) *Key {
	t.Helper()
	priv, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatalf("authtest: could not generate an EC key: %v", err)
	}
	return &Key{KeyID: kid, Signer: priv}
}

// NewEdKey returns a fresh Ed25519 key (JWK kty "OKP"), useful to check that a verifier
// which does not support it still accepts tokens signed by the other keys of a set.
func NewEdKey(t testing.TB, kid string) *Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("authtest: could not generate an Ed25519 key: %v", err)
	}
	return &Key{KeyID: kid, Signer: priv}
}

// Public returns the public half as a JWK carrying kid and use "sig" but, like Entra's key
// set, no "alg" member.
func (k *Key) Public() jwk.Key {
	pub, err := jwk.FromRaw(k.Signer.Public())
	if err != nil {
		panic(fmt.Sprintf("authtest: could not build a JWK: %v", err))
	}
	_ = pub.Set(jwk.KeyIDKey, k.KeyID)
	_ = pub.Set(jwk.KeyUsageKey, "sig")
	return pub
}

// PublicJWK returns the public JWK as JSON bytes.
func (k *Key) PublicJWK() []byte {
	b, err := json.Marshal(k.Public())
	if err != nil {
		panic(fmt.Sprintf("authtest: could not marshal a JWK: %v", err))
	}
	return b
}

// PublicPEM returns the public key as a PEM "PUBLIC KEY" block (PKIX).
func (k *Key) PublicPEM() []byte {
	der, err := x509.MarshalPKIXPublicKey(k.Signer.Public())
	if err != nil {
		panic(fmt.Sprintf("authtest: could not marshal a public key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// JWKS returns a key set document {"keys":[...]} holding the public halves of keys.
func JWKS(keys ...*Key) []byte {
	raw := make([]json.RawMessage, 0, len(keys))
	for _, k := range keys {
		raw = append(raw, k.PublicJWK())
	}
	b, err := json.Marshal(map[string]any{"keys": raw})
	if err != nil {
		panic(fmt.Sprintf("authtest: could not marshal a key set: %v", err))
	}
	return b
}

// Mint returns a compact JWT over claims, signed RS256 by k, with headers alg, typ and kid.
func Mint(t testing.TB, k *Key, claims map[string]any) string {
	t.Helper()
	return MintWith(t, k, nil, claims, "RS256")
}

// MintWith returns a compact JWS over claims signed with alg, for forging tokens. The header
// starts as {"alg": alg, "typ": "JWT", "kid": k.KeyID}; entries of header are merged over it,
// and an entry with a nil value removes that member (e.g. {"kid": nil}). alg "none" gives an
// empty signature; HS256/HS384/HS512 use k's public key in PEM form as the HMAC secret (the
// classic key-confusion forgery; see MintHMAC for other secrets); other algorithms sign
// with k.Signer, which must suit alg. k may be nil for "none".
func MintWith(t testing.TB, k *Key, header map[string]any, claims map[string]any, alg string) string {
	t.Helper()
	h := map[string]any{"alg": alg, "typ": "JWT"}
	if k != nil {
		h["kid"] = k.KeyID
	}
	input := signingInput(t, mergeHeader(h, header), claims)
	switch {
	case alg == "none":
		return input + "."
	case strings.HasPrefix(alg, "HS"):
		if k == nil {
			t.Fatalf("authtest: MintWith %s needs a key", alg)
		}
		return input + "." + sign(t, alg, input, k.PublicPEM())
	default:
		if k == nil {
			t.Fatalf("authtest: MintWith %s needs a key", alg)
		}
		return input + "." + sign(t, alg, input, k.Signer)
	}
}

// MintHMAC returns a compact JWS over claims signed with an HMAC algorithm (HS256, HS384,
// HS512) keyed by secret, e.g. the JSON bytes of a published JWK. header is merged as in
// MintWith over {"alg": alg, "typ": "JWT"}.
func MintHMAC(t testing.TB, secret []byte, header, claims map[string]any, alg string) string {
	t.Helper()
	input := signingInput(t, mergeHeader(map[string]any{"alg": alg, "typ": "JWT"}, header), claims)
	return input + "." + sign(t, alg, input, secret)
}

// mergeHeader sets the entries of over on h and returns h; an entry with a nil value removes
// that member.
func mergeHeader(h, over map[string]any) map[string]any {
	for name, v := range over {
		if v == nil {
			delete(h, name)
			continue
		}
		h[name] = v
	}
	return h
}

func signingInput(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	hb, err := json.Marshal(header)
	if err != nil {
		t.Fatalf("authtest: could not marshal the header: %v", err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		t.Fatalf("authtest: could not marshal the claims: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
}

func sign(t testing.TB, alg, input string, key any) string {
	t.Helper()
	signer, err := jws.NewSigner(jwa.SignatureAlgorithm(alg))
	if err != nil {
		t.Fatalf("authtest: no signer for %q: %v", alg, err)
	}
	sig, err := signer.Sign([]byte(input), key)
	if err != nil {
		t.Fatalf("authtest: could not sign with %q: %v", alg, err)
	}
	return base64.RawURLEncoding.EncodeToString(sig)
}

// Well-known fake identifiers used by EntraV2Claims and EntraV1Claims.
const (
	// ObjectID is the oid of the fake signed-in user.
	ObjectID = "00000000-0000-0000-0000-0000000000a1"
	// ClientID is the azp/appid of the fake client application.
	ClientID = "00000000-0000-0000-0000-0000000000c1"
	// Username is the preferred_username (v2) or upn (v1) of the fake user.
	Username = "ada@example.com"
)

// EntraV2Claims returns the claims of an Entra v2 delegated access token: iss, aud, tid,
// oid, sub, azp, name, preferred_username, ver "2.0", iat and nbf now, exp in one hour, and
// scp (space-separated short scope names) when scopes are given. Change the map to forge.
func EntraV2Claims(tenant, issuer, aud string, scopes ...string) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss":                issuer,
		"aud":                aud,
		"tid":                tenant,
		"oid":                ObjectID,
		"sub":                "sub-" + ObjectID,
		"azp":                ClientID,
		"name":               "Ada Lovelace",
		"preferred_username": Username,
		"ver":                "2.0",
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(time.Hour).Unix(),
	}
	if len(scopes) > 0 {
		c["scp"] = strings.Join(scopes, " ")
	}
	return c
}

// EntraV1Claims returns the claims of an Entra v1 delegated access token: iss
// https://sts.windows.net/<tenant>/, appid instead of azp, upn instead of
// preferred_username, ver "1.0".
func EntraV1Claims(tenant, aud string, scopes ...string) map[string]any {
	c := EntraV2Claims(tenant, "https://sts.windows.net/"+tenant+"/", aud, scopes...)
	delete(c, "azp")
	delete(c, "preferred_username")
	c["appid"] = ClientID
	c["upn"] = Username
	c["ver"] = "1.0"
	return c
}

// MintPayload returns a compact JWT whose payload is the given bytes verbatim, signed RS256 by
// k, for payloads a map cannot express (a claim named twice, odd spacing, trailing data).
func MintPayload(t testing.TB, k *Key, payload []byte) string {
	t.Helper()
	hb, err := json.Marshal(map[string]any{"alg": "RS256", "typ": "JWT", "kid": k.KeyID})
	if err != nil {
		t.Fatalf("authtest: could not marshal the header: %v", err)
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(payload)
	return input + "." + sign(t, "RS256", input, k.Signer)
}
