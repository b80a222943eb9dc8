package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// overage reports whether claims carry the groups overage indicator: Entra names the groups
// claim in _claim_names (pointing to Graph) instead of listing groups it could not fit. Only
// the groups entry counts; other distributed claims do not hide anything a rule reads.
func overage(claims map[string]any) bool {
	names, ok := claims["_claim_names"].(map[string]any)
	if !ok {
		return false
	}
	_, groups := names["groups"]
	return groups
}

// Claims turns a verified token payload into the claims map expressions see: every claim as
// JSON decodes it, with scp split on spaces into a list, and scp, roles and groups always
// present as lists (empty when the token has none), so that "'x' in claims.roles" is false,
// not an error, for a token without roles.
func Claims(payload []byte) (map[string]any, error) {
	claims := map[string]any{}
	if len(payload) > 0 {
		dec := json.NewDecoder(bytes.NewReader(payload))
		dec.UseNumber()
		if err := dec.Decode(&claims); err != nil {
			return nil, fmt.Errorf("claims are not a JSON object: %w", err)
		}
		// JSON null decodes into a map by setting it to nil, without an error: a nil map
		// would panic below, and no token's payload is null.
		if claims == nil {
			return nil, errors.New("claims are not a JSON object: null")
		}
		// cel-go takes float64 for JSON numbers; json.Number would be an unknown type.
		for k, v := range claims {
			claims[k] = numbersToFloat(v)
		}
	}
	// Entra's access tokens say scp; tokens of other issuers (and OAuth's own JWT profile,
	// RFC 9068) say scope. Either becomes claims.scp, so one rule serves both.
	scp := claims["scp"]
	if scp == nil {
		scp = claims["scope"]
	}
	if s, ok := scp.(string); ok {
		claims["scp"] = toAny(strings.Fields(s))
	} else if _, ok := scp.([]any); !ok {
		claims["scp"] = []any{}
	}
	// A roles or groups claim of another shape (a lone string from some issuer) is replaced
	// by an empty list: failing closed, as a rule cannot be sure what it meant.
	for _, k := range []string{"roles", "groups"} {
		if _, ok := claims[k].([]any); !ok {
			claims[k] = []any{}
		}
	}
	return claims, nil
}

// numbersToFloat converts json.Number values (anywhere in v) to float64, in place. The payload
// is decoded with UseNumber first so that nothing is lost on the way; exp and iat fit a
// float64 exactly.
func numbersToFloat(v any) any {
	switch t := v.(type) {
	case json.Number:
		f, _ := t.Float64()
		return f
	case map[string]any:
		for k, e := range t {
			t[k] = numbersToFloat(e)
		}
	case []any:
		for i, e := range t {
			t[i] = numbersToFloat(e)
		}
	}
	return v
}

// toAny is in as a []any, the list type CEL reads from a map[string]any.
func toAny(in []string) []any {
	out := make([]any, len(in))
	for i, s := range in {
		out[i] = s
	}
	return out
}
