package devauthority

import (
	"strings"
	"time"
)

// IssueAccessTokenAs issues an access token like [Authority.IssueAccessToken], for another
// user than the development user: object ID oid (any string; tests use names), with the app
// roles and extra claims given (extra wins over the standard claims). It lets tests of
// per-user behaviour (the gateway's policies and session isolation) sign in as several people.
func (a *Authority) IssueAccessTokenAs(oid string, scopes, roles []string, extra map[string]any, lifetime time.Duration) (string, error) {
	if lifetime <= 0 {
		lifetime = a.cfg.TokenLifetime
	}
	now := a.cfg.Now()
	// tid is the tenant's GUID, as in iss: Entra never issues a tid that is a domain name.
	claims := map[string]any{
		"aud":                a.cfg.APIClientID,
		"iss":                a.Issuer(),
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(lifetime).Unix(),
		"azp":                DevClientID,
		"azpacr":             "0",
		"name":               oid,
		"oid":                oid,
		"preferred_username": oid + "@" + a.cfg.Tenant,
		"sub":                pairwiseSub(oid, DevClientID),
		"tid":                a.tenantID,
		"uti":                randomToken(16),
		"ver":                "2.0",
	}
	if len(scopes) > 0 {
		claims["scp"] = strings.Join(scopes, " ")
	}
	if len(roles) > 0 {
		claims["roles"] = roles
	}
	for k, v := range extra {
		claims[k] = v
	}
	return a.sign(claims)
}
