package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// minRSABits is the smallest RSA modulus accepted in a key set. Entra signs with 2048-bit
// keys; anything shorter is below current guidance (NIST SP 800-131A) and is skipped.
const minRSABits = 2048

// algorithm describes one accepted signature algorithm: which key type (and curve) it may be
// used with, and its jwx verifier, built once rather than per token.
type algorithm struct {
	name     jwa.SignatureAlgorithm
	kty      jwa.KeyType
	curve    elliptic.Curve // EC only: the curve the algorithm is defined for
	verifier jws.Verifier
}

// algorithms holds the only accepted token algorithms: asymmetric RSA and ECDSA signatures.
// "none" is absent because it proves nothing, and HS* because an HMAC "keyed" with our
// public key is the classic forgery: anyone can compute it. EdDSA and ES256K are absent because
// Entra never uses them; keys of those kinds are skipped when the set is loaded.
var algorithms = func() map[string]*algorithm {
	m := map[string]*algorithm{}
	add := func(name jwa.SignatureAlgorithm, kty jwa.KeyType, curve elliptic.Curve) {
		v, err := jws.NewVerifier(name)
		if err != nil {
			panic(fmt.Sprintf("auth: jwx has no verifier for %s: %v", name, err))
		}
		m[name.String()] = &algorithm{name: name, kty: kty, curve: curve, verifier: v}
	}
	for _, a := range []jwa.SignatureAlgorithm{jwa.RS256, jwa.RS384, jwa.RS512, jwa.PS256, jwa.PS384, jwa.PS512} {
		add(a, jwa.RSA, nil)
	}
	add(jwa.ES256, jwa.EC, elliptic.P256())
	add(jwa.ES384, jwa.EC, elliptic.P384())
	add(jwa.ES512, jwa.EC, elliptic.P521())
	return m
}()

// knownAlgorithmNames are the registered JWS algorithm names it is safe to repeat in an error
// description. Anything else the token's header says is attacker-chosen text and is not echoed.
var knownAlgorithmNames = map[string]bool{
	"none": true, "HS256": true, "HS384": true, "HS512": true, "EdDSA": true, "ES256K": true,
	"RS256": true, "RS384": true, "RS512": true, "PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
}

// signingKey is one usable public key of the key set, converted once to its crypto form.
type signingKey struct {
	kid   string
	kty   jwa.KeyType
	curve elliptic.Curve // EC only
	pub   any            // *rsa.PublicKey or *ecdsa.PublicKey
	// alg is the key's own "alg" member when it has one (Entra's keys have none); a token
	// must then use exactly that algorithm.
	alg string
	// thumbprint identifies the key material (RFC 7638), so a kid reused for a different key
	// is noticed and cached verifications made with the old key are dropped.
	thumbprint string
}

// keySet is an immutable snapshot of the usable keys, by kid. A new snapshot replaces it
// atomically on each successful refresh.
type keySet struct {
	keys map[string]*signingKey
}

// get returns the key with this kid, or nil.
func (s *keySet) get(kid string) *signingKey {
	if s == nil {
		return nil
	}
	return s.keys[kid]
}

// kids returns the key IDs, for logs.
func (s *keySet) kids() []string {
	out := make([]string, 0, len(s.keys))
	for kid := range s.keys {
		out = append(out, kid)
	}
	return out
}

// parseKeySet parses a JWK Set document ([RFC 7517] section 5) and keeps the keys usable for
// verifying signatures. A key that cannot be used (unsupported type or curve, encryption
// use, broken parameters, too short, no kid) is logged and skipped: one odd key must not make
// the whole set, and so every token, unusable. A set with no usable key is an error.
//
// [RFC 7517]: https://www.rfc-editor.org/rfc/rfc7517
func parseKeySet(body []byte, logger *slog.Logger) (*keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("key set is not a JSON JWK Set: %w", err)
	}
	set := &keySet{keys: make(map[string]*signingKey, len(doc.Keys))}
	for i, raw := range doc.Keys {
		k, err := parseSigningKey(raw)
		if err != nil {
			logger.Warn("skipping unusable key in the key set", "index", i, "kid", rawKid(raw), "reason", err.Error())
			continue
		}
		if _, dup := set.keys[k.kid]; dup {
			logger.Warn("skipping key with a duplicate kid in the key set", "index", i, "kid", k.kid)
			continue
		}
		set.keys[k.kid] = k
	}
	if len(set.keys) == 0 {
		return nil, fmt.Errorf("key set holds no usable signing key (%d keys, none RSA or EC P-256/P-384/P-521 with a kid)", len(doc.Keys))
	}
	return set, nil
}

// rawKid extracts the kid of a key that failed to parse, for the log line.
func rawKid(raw json.RawMessage) string {
	var k struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(raw, &k)
	return k.Kid
}

// parseSigningKey turns one JWK into a signingKey, or says why it cannot be used.
func parseSigningKey(raw json.RawMessage) (*signingKey, error) {
	key, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid JWK: %w", err)
	}
	if key.KeyID() == "" {
		return nil, errors.New("no kid")
	}
	if use := key.KeyUsage(); use != "" && use != jwk.ForSignature.String() {
		return nil, fmt.Errorf("use %q is not sig", use)
	}
	// A published private key (a misconfiguration) is still only used for its public half.
	pubKey, err := jwk.PublicKeyOf(key)
	if err != nil {
		return nil, fmt.Errorf("no public key: %w", err)
	}
	sk := &signingKey{kid: key.KeyID(), kty: key.KeyType()}
	var rawPub any
	if err := pubKey.Raw(&rawPub); err != nil {
		return nil, fmt.Errorf("unusable key parameters: %w", err)
	}
	switch pub := rawPub.(type) {
	case *rsa.PublicKey:
		if pub.N == nil || pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key shorter than %d bits", minRSABits)
		}
		if pub.E < 3 || pub.E%2 == 0 {
			return nil, errors.New("RSA key has an invalid public exponent")
		}
		sk.pub = pub
	case *ecdsa.PublicKey:
		switch pub.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return nil, fmt.Errorf("unsupported EC curve %s", pub.Curve.Params().Name)
		}
		// Reject an invalid point now rather than at every verification.
		if _, err := pub.ECDH(); err != nil {
			return nil, errors.New("EC key is not a valid point on its curve")
		}
		sk.pub, sk.curve = pub, pub.Curve
	default:
		return nil, fmt.Errorf("unsupported key type %s", key.KeyType())
	}
	if a := key.Algorithm().String(); a != "" {
		alg, ok := algorithms[a]
		if !ok || alg.kty != sk.kty || (alg.curve != nil && alg.curve != sk.curve) {
			return nil, fmt.Errorf("key alg %q is not an accepted algorithm for its key type", a)
		}
		sk.alg = a
	}
	tp, err := pubKey.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("could not compute the key thumbprint: %w", err)
	}
	sk.thumbprint = string(tp)
	return sk, nil
}
