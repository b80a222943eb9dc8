package auth_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// These examples run offline: each makes an RSA key, publishes it on an httptest key-set
// server, and signs its own tokens, as an Entra tenant would. The clock is fixed so that the
// printed expiry is stable.

const (
	exampleTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	exampleAPI    = "11111111-2222-3333-4444-555555555555" // the API's client ID
)

var exampleNow = time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)

// ExampleNewVerifier verifies an Entra v2 access token and reads the caller from it. A server
// would take the token from the Authorization header and answer 401 when Verify fails.
func ExampleNewVerifier() {
	key, jwks := exampleKeySet()
	defer jwks.Close()

	issuer := "https://login.microsoftonline.com/" + exampleTenant + "/v2.0"
	v, err := auth.NewVerifier(context.Background(), auth.VerifierConfig{
		JWKSURI:   jwks.URL, // a loopback URL may be http; any other must be https
		Issuers:   []string{issuer},
		Audiences: []string{exampleAPI, "api://" + exampleAPI}, // v2 and v1 forms of aud
		ClockSkew: time.Minute,
		Now:       func() time.Time { return exampleNow },
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer v.Close()

	token := exampleToken(key, map[string]any{
		"iss": issuer, "aud": exampleAPI, "tid": exampleTenant,
		"sub": "user-sub", "oid": "user-oid", "preferred_username": "ada@contoso.example",
		"scp": "execute read", "ver": "2.0",
		"exp": exampleNow.Add(time.Hour).Unix(), "iat": exampleNow.Unix(),
	})
	id, err := v.Verify(context.Background(), token)
	if err != nil {
		fmt.Println("rejected:", err)
		return
	}
	fmt.Println("user:", id.User(), id.Username)
	fmt.Println("scopes:", id.Scopes)
	fmt.Println("missing:", id.Missing([]string{"execute", "admin"}))
	fmt.Println("expires:", id.Expiry.Format(time.RFC3339))
	// Output:
	// user: user-oid ada@contoso.example
	// scopes: [execute read]
	// missing: [admin]
	// expires: 2026-01-02T16:04:05Z
}

// ExampleVerifier_Verify_rejected shows how a failure reads: every failure wraps
// auth.ErrInvalidToken (answer 401), and a *auth.TokenError carries a machine-readable reason
// and a description safe to send back in WWW-Authenticate.
func ExampleVerifier_Verify_rejected() {
	key, jwks := exampleKeySet()
	defer jwks.Close()

	issuer := "https://login.microsoftonline.com/" + exampleTenant + "/v2.0"
	v, err := auth.NewVerifier(context.Background(), auth.VerifierConfig{
		JWKSURI:   jwks.URL,
		Issuers:   []string{issuer},
		Audiences: []string{exampleAPI, "api://" + exampleAPI},
		Now:       func() time.Time { return exampleNow },
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer v.Close()

	for _, claims := range []map[string]any{
		// A token for another API, replayed here.
		{"iss": issuer, "aud": "api://another-api", "exp": exampleNow.Add(time.Hour).Unix()},
		// An expired token.
		{"iss": issuer, "aud": exampleAPI, "exp": exampleNow.Add(-time.Hour).Unix()},
	} {
		_, err := v.Verify(context.Background(), exampleToken(key, claims))
		var terr *auth.TokenError
		if errors.As(err, &terr) {
			fmt.Println(errors.Is(err, auth.ErrInvalidToken), terr.Reason)
		}
	}
	// Output:
	// true wrong_audience
	// true expired
}

// exampleKey is an RSA signing key and its key ID.
type exampleKey struct {
	kid  string
	priv *rsa.PrivateKey
}

// exampleKeySet makes an RSA key and serves its public half as a JSON Web Key Set.
func exampleKeySet() (*exampleKey, *httptest.Server) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	k := &exampleKey{kid: "example-kid", priv: priv}
	set, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.kid,
		"n": b64(priv.N.Bytes()), "e": b64(big.NewInt(int64(priv.E)).Bytes()),
	}}})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(set)
	}))
	return k, srv
}

// exampleToken signs claims with k as a compact RS256 JWT.
func exampleToken(k *exampleKey, claims map[string]any) string {
	header, err := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": k.kid})
	if err != nil {
		panic(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	input := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.priv, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return input + "." + b64(sig)
}

// b64 is unpadded base64url, as JOSE uses.
func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
