package auth

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// tokenClaims are the claims Verify reads, decoded once, straight into typed fields by
// decodeObject, which matches names exactly.
type tokenClaims struct {
	Iss, Sub, Oid, Tid, Azp, AppID, Name, PreferredUsername, Upn, UniqueName, Scp, Scope, Ver string

	Aud, Roles    stringList
	Exp, Nbf, Iat numericDate
}

// field returns where the claim name is decoded, nil to skip it. Claim names are
// case-sensitive (RFC 7519 section 10.1.1): "AUD" is not "aud".
func (c *tokenClaims) field(name []byte) any {
	switch string(name) { // no allocation: the compiler compares the bytes
	case "iss":
		return &c.Iss
	case "sub":
		return &c.Sub
	case "aud":
		return &c.Aud
	case "exp":
		return &c.Exp
	case "nbf":
		return &c.Nbf
	case "iat":
		return &c.Iat
	case "oid":
		return &c.Oid
	case "tid":
		return &c.Tid
	case "azp":
		return &c.Azp
	case "appid":
		return &c.AppID
	case "name":
		return &c.Name
	case "preferred_username":
		return &c.PreferredUsername
	case "upn":
		return &c.Upn
	case "unique_name":
		return &c.UniqueName
	case "scp":
		return &c.Scp
	case "scope":
		return &c.Scope
	case "roles":
		return &c.Roles
	case "ver":
		return &c.Ver
	}
	return nil
}

// checkClaims reads the claims of a payload whose signature checked out and applies the
// checks of Verify to them: iss (and its tenant), aud, exp required, the times with skew, the
// lifetime bound, a subject. It returns the identity and the times for the verified cache.
func (v *Verifier) checkClaims(pb []byte, kid string, now time.Time) (*Identity, tokenTimes, *TokenError) {
	var times tokenTimes
	var c tokenClaims
	if terr := decodeObject(pb, "claim", c.field); terr != nil {
		if terr.Description == "" {
			terr.Description = "token claims are not a JSON object of the expected types"
		}
		return nil, times, terr
	}
	if !slices.Contains(v.issuers, c.Iss) {
		return nil, times, tokenErr(ReasonWrongIssuer, "token issuer is not accepted")
	}
	if want, bound := v.issuerTenants[c.Iss]; bound && !strings.EqualFold(c.Tid, want) {
		return nil, times, tokenErr(ReasonWrongIssuer, "token issuer is not that of its tenant (tid)")
	}
	if !slices.ContainsFunc(c.Aud, func(a string) bool { return slices.Contains(v.audiences, a) }) {
		return nil, times, tokenErr(ReasonWrongAudience, "token audience is not accepted")
	}
	if !c.Exp.set {
		return nil, times, tokenErr(ReasonMissingExpiration, "token has no expiration (exp)")
	}
	times = tokenTimes{exp: c.Exp.t, nbf: c.Nbf.t, iat: c.Iat.t}
	if terr := checkTimes(now, v.skew, &times); terr != nil {
		return nil, times, terr
	}
	// An exp years away (1e300 became the year 36812) makes a stolen token a permanent key.
	// Entra's longest-lived access tokens (continuous access evaluation) last about 28 hours,
	// so anything beyond maxLifetime was not minted by a sane authority. The skew is not added:
	// the limit is far above any real lifetime already.
	if c.Exp.t.Sub(now) > v.maxLifetime {
		return nil, times, tokenErr(ReasonLifetimeTooLong, "token lifetime exceeds the accepted maximum")
	}
	// Sessions are bound to the user (oid, else sub): a token naming neither would open a
	// session bound to nobody, which the go-sdk lets any other token use, since it skips its
	// user check for an empty user ID.
	if c.Sub == "" && c.Oid == "" {
		return nil, times, tokenErr(ReasonNoSubject, "token names no subject (sub or oid)")
	}
	id := &Identity{
		Subject:  c.Sub,
		ObjectID: c.Oid,
		TenantID: c.Tid,
		ClientID: firstNonEmpty(c.Azp, c.AppID),
		Name:     c.Name,
		Username: firstNonEmpty(c.PreferredUsername, c.Upn, c.UniqueName),
		Issuer:   c.Iss,
		Audience: []string(c.Aud),
		Scopes:   strings.Fields(firstNonEmpty(c.Scp, c.Scope)),
		Roles:    []string(c.Roles),
		Expiry:   c.Exp.t,
		KeyID:    kid,
		Version:  c.Ver,
		Claims:   pb,
	}
	if len(id.Scopes) == 0 {
		id.Scopes = nil
	}
	return id, times, nil
}

// firstNonEmpty returns the first non-empty claim of s (azp or appid, and so on).
func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// tokenTimes are a token's validity times; a zero nbf or iat means absent.
type tokenTimes struct {
	exp, nbf, iat time.Time
}

// checkTimes applies exp, nbf and iat with skew. Cached and uncached verification share it so
// a cached token stops being accepted exactly when it would be rejected afresh.
func checkTimes(now time.Time, skew time.Duration, t *tokenTimes) *TokenError {
	if !now.Before(t.exp.Add(skew)) {
		return tokenErr(ReasonExpired, "token expired at "+t.exp.UTC().Format(time.RFC3339))
	}
	late := now.Add(skew)
	if !t.nbf.IsZero() && late.Before(t.nbf) {
		return tokenErr(ReasonNotYetValid, "token is not valid before "+t.nbf.UTC().Format(time.RFC3339))
	}
	if !t.iat.IsZero() && late.Before(t.iat) {
		return tokenErr(ReasonNotYetValid, "token was issued in the future ("+t.iat.UTC().Format(time.RFC3339)+"); check the clocks")
	}
	return nil
}

// stringList decodes a JSON string or array of strings (aud may be either, RFC 7519 4.1.3).
type stringList []string

// UnmarshalJSON implements json.Unmarshaler.
func (l *stringList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = stringList{s}
		return nil
	}
	if string(b) == "null" {
		*l = nil
		return nil
	}
	var a []string
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	*l = a
	return nil
}

// numericDate decodes a JWT NumericDate (seconds since the epoch, possibly fractional).
type numericDate struct {
	t   time.Time
	set bool
}

// maxNumericDate keeps absurd dates representable instead of wrapping around.
const maxNumericDate = 1 << 40

// UnmarshalJSON implements json.Unmarshaler.
func (d *numericDate) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = numericDate{}
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("NumericDate is not a number")
	}
	f = math.Max(-maxNumericDate, math.Min(maxNumericDate, f))
	sec, frac := math.Modf(f)
	d.t = time.Unix(int64(sec), int64(frac*1e9))
	d.set = true
	return nil
}
