package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// tokenHeader is the part of the JOSE header Verify reads. Headers that would point at other
// keys (jku, jwk, x5u, x5c) are ignored on purpose: only the configured key set is trusted.
type tokenHeader struct {
	Alg  string
	Kid  string
	Crit json.RawMessage
}

// field returns where the header parameter name is decoded, nil to skip it. Names match
// exactly (RFC 7515 section 4: parameter names are case-sensitive).
func (h *tokenHeader) field(name []byte) any {
	switch string(name) {
	case "alg":
		return &h.Alg
	case "kid":
		return &h.Kid
	case "crit":
		return &h.Crit
	}
	return nil
}

// verifyUncached does the full verification: the JWS (verifySignature), then the claims
// (checkClaims).
func (v *Verifier) verifyUncached(ctx context.Context, token string, now time.Time) (*Identity, tokenTimes, *signingKey, *TokenError) {
	kid, payload, key, terr := v.verifySignature(ctx, token)
	if terr != nil {
		return nil, tokenTimes{}, nil, terr
	}
	id, times, terr := v.checkClaims(payload, kid, now)
	if terr != nil {
		return nil, times, nil, terr
	}
	return id, times, key, nil
}

// verifySignature checks the compact JWS form, the header (no crit, an accepted algorithm
// that the key's type allows, a kid of the key set) and the signature, and returns the kid,
// the decoded payload and the key. Nothing of the payload is read before the signature holds.
func (v *Verifier) verifySignature(ctx context.Context, token string) (string, []byte, *signingKey, *TokenError) {
	h64, rest, ok1 := strings.Cut(token, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.IndexByte(s64, '.') >= 0 || h64 == "" || p64 == "" {
		return "", nil, nil, tokenErr(ReasonMalformed, "token is not a JWT in compact form (header.payload.signature)")
	}
	hb, err := base64.RawURLEncoding.DecodeString(h64)
	if err != nil {
		return "", nil, nil, tokenErr(ReasonMalformed, "token header is not base64url")
	}
	var hdr tokenHeader
	if terr := decodeObject(hb, "header parameter", hdr.field); terr != nil {
		if terr.Description == "" {
			terr.Description = "token header is not a JSON object"
		}
		return "", nil, nil, terr
	}
	if hdr.Crit != nil {
		// RFC 7515 section 4.1.11: extensions we do not understand must be rejected.
		return "", nil, nil, tokenErr(ReasonMalformed, "token header lists critical extensions (crit), which are not supported")
	}
	alg := algorithms[hdr.Alg]
	if alg == nil {
		return "", nil, nil, tokenErr(ReasonUnsupportedAlgorithm, unsupportedAlgDescription(hdr.Alg))
	}
	if hdr.Kid == "" {
		return "", nil, nil, tokenErr(ReasonUnknownKey, "token header names no signing key (kid)")
	}
	key := v.signingKeyFor(ctx, hdr.Kid)
	if key == nil {
		return "", nil, nil, tokenErr(ReasonUnknownKey, "token signed by an unknown key")
	}
	// The algorithm comes from the token header (Entra's keys carry no alg), so it must be
	// one the key's type allows: an RSA key never verifies an ES256 or HS256 signature.
	if alg.kty != key.kty || (alg.curve != nil && alg.curve != key.curve) || (key.alg != "" && key.alg != hdr.Alg) {
		return "", nil, nil, tokenErr(ReasonUnsupportedAlgorithm, "token algorithm "+hdr.Alg+" does not match its signing key")
	}
	sig, err := base64.RawURLEncoding.DecodeString(s64)
	if err != nil || len(sig) == 0 {
		return "", nil, nil, tokenErr(ReasonBadSignature, "token signature is invalid")
	}
	if err := alg.verifier.Verify([]byte(token[:len(h64)+1+len(p64)]), sig, key.pub); err != nil {
		return "", nil, nil, tokenErr(ReasonBadSignature, "token signature is invalid")
	}

	// Only now, with the signature checked, are the claims trusted enough to read.
	pb, err := base64.RawURLEncoding.DecodeString(p64)
	if err != nil {
		return "", nil, nil, tokenErr(ReasonMalformed, "token payload is not base64url")
	}
	return hdr.Kid, pb, key, nil
}

// unsupportedAlgDescription names the algorithm only when it is a registered name: the
// header is attacker-controlled and the description ends up in a response header.
func unsupportedAlgDescription(alg string) string {
	switch {
	case alg == "":
		return "token header names no algorithm (alg)"
	case knownAlgorithmNames[alg]:
		return "token algorithm " + alg + " is not accepted (only RS*, PS* and ES* signatures are)"
	default:
		return "token algorithm is not supported (only RS*, PS* and ES* signatures are)"
	}
}

func tokenErr(r Reason, desc string) *TokenError {
	return &TokenError{Reason: r, Description: desc}
}
