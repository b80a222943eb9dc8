package devauthority

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// grantOnBehalfOf is Entra's On-Behalf-Of grant (OAuth 2.0 jwt-bearer,
// requested_token_use=on_behalf_of): a middle-tier API, authenticating as a confidential
// client, exchanges a user's token issued for it (the assertion) for a token to a downstream
// API, as that user. As Entra
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-on-behalf-of-flow):
//   - the assertion must be a valid token of this authority (signature, issuer), else
//     AADSTS50013, and within its lifetime, else AADSTS500133;
//   - its aud must be the calling client's API (its client ID or identifier URI): "Assertion
//     audience does not match the Client app presenting the assertion" (AADSTS50013, as
//     reported in AzureAD/microsoft-authentication-library-for-js#389);
//   - it must be a user's: the flow works for user principals only ("Client limitations");
//   - the scope must be a registered API's (Config.DownstreamAPIs), one resource per request;
//   - Config.RequireConsent gives AADSTS65001 (invalid_grant, suberror consent_required)
//     until the user approved a sign-in of the middle tier for the scope (checkConsent);
//   - the new token keeps the user's oid and tid, has the middle tier as azp, the
//     downstream API as aud, and a sub of its own: Entra's sub is pairwise per application.
func (a *Authority) grantOnBehalfOf(r *http.Request, form url.Values) (map[string]any, *oauthError) {
	if form.Get("requested_token_use") != "on_behalf_of" {
		return nil, errInvalidRequest(aadstsInvalidRequest, "The request body must contain the following parameter: 'requested_token_use' with the value 'on_behalf_of'.")
	}
	assertion := form.Get("assertion")
	if assertion == "" {
		return nil, errMissingParameter("assertion")
	}
	clientID, oerr := a.authenticateClient(r, form)
	if oerr != nil {
		return nil, oerr
	}
	claims, oerr := a.verifyAssertion(r, assertion)
	if oerr != nil {
		return nil, oerr
	}
	oid, _ := claims["oid"].(string)
	scp, _ := claims["scp"].(string)
	if idtyp, _ := claims["idtyp"].(string); idtyp == "app" || scp == "" || oid == "" {
		return nil, errInvalidGrant(aadstsInvalidAssertion, "The assertion is an app-only token. The On-Behalf-Of flow works only for user principals: an application uses the client credentials flow.")
	}
	if aud := audienceOf(claims); !a.isAudienceOf(aud, clientID) {
		return nil, errInvalidGrant(aadstsInvalidAssertion, "Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was "+
			quoteScope(aud)+" and the expected audience is "+quoteScope(clientID)+" or one of the Application Uris of this application with App ID "+quoteScope(clientID)+".")
	}
	sr, oerr := a.parseScopes(form.Get("scope"), "")
	if oerr != nil {
		return nil, oerr
	}
	if len(sr.api) == 0 || sr.aud == a.graph {
		return nil, errInvalidScope(aadstsInvalidScope, "The On-Behalf-Of request must ask for a downstream API's scope, such as "+a.apis[len(a.apis)-1].uri+"/read.")
	}
	if oerr := a.checkConsent(oid, clientID, sr); oerr != nil {
		return nil, oerr
	}
	at, err := a.mintOBOToken(r, claims, clientID, sr)
	if err != nil {
		return nil, &oauthError{500, "server_error", 500011, "Could not sign the token."}
	}
	secs := int(a.cfg.TokenLifetime.Seconds())
	a.log.Info("on-behalf-of token issued", "client_id", clientID, "oid", oid, "aud", sr.aud.id, "scp", strings.Join(sr.api, " "))
	return map[string]any{
		"token_type":     "Bearer",
		"scope":          sr.echo(),
		"expires_in":     secs,
		"ext_expires_in": secs,
		"access_token":   at,
	}, nil
}

// verifyAssertion checks that assertion is a token this authority signed, from one of its
// issuers, within its lifetime, and returns its claims. Every failure is AADSTS50013, as
// Entra reports an invalid assertion.
func (a *Authority) verifyAssertion(r *http.Request, assertion string) (map[string]any, *oauthError) {
	bad := func(why string) *oauthError {
		return errInvalidGrant(aadstsInvalidAssertion, "Assertion failed signature validation. [Reason - "+why+"]")
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 || len(assertion) > 16<<10 {
		return nil, bad("The assertion is not a JWT.")
	}
	var hdr struct{ Alg, Kid string }
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &hdr) != nil {
		return nil, bad("The assertion header is malformed.")
	}
	// Only RS256 with this authority's key: an alg=none or HMAC token signs nothing here.
	if hdr.Alg != "RS256" || hdr.Kid != a.km.kid {
		return nil, bad("The key was not found.")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, bad("The signature is malformed.")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&a.km.signKey.PublicKey, crypto.SHA256, digest[:], sig) != nil {
		return nil, bad("The provided signature value did not match the expected signature value.")
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err != nil || json.Unmarshal(pb, &claims) != nil {
		return nil, bad("The assertion payload is malformed.")
	}
	iss, _ := claims["iss"].(string)
	if !slices.Contains([]string{a.issuerFor(r), a.Issuer(), a.issuerV1For(r), a.IssuerV1()}, iss) {
		return nil, errInvalidGrant(aadstsInvalidAssertion, "The token issuer "+quoteScope(iss)+" is not this tenant's.")
	}
	now := a.cfg.Now()
	exp, _ := claims["exp"].(float64)
	// Outside its lifetime, Entra answers AADSTS500133 "Assertion isn't within its valid time
	// range" (reference-error-codes), not the generic 50013.
	if exp == 0 || !now.Before(time.Unix(int64(exp), 0)) {
		return nil, errInvalidGrant(aadstsAssertionTime, "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token.")
	}
	if nbf, _ := claims["nbf"].(float64); nbf != 0 && now.Add(5*time.Minute).Before(time.Unix(int64(nbf), 0)) {
		return nil, errInvalidGrant(aadstsAssertionTime, "Assertion is not within its valid time range: it is not valid yet.")
	}
	return claims, nil
}

// audienceOf returns the aud claim (the first one when it is a list).
func audienceOf(claims map[string]any) string {
	switch v := claims["aud"].(type) {
	case string:
		return v
	case []any:
		if len(v) > 0 {
			s, _ := v[0].(string)
			return s
		}
	}
	return ""
}

// isAudienceOf reports whether aud names clientID's API: its client ID, or the identifier
// URI of the registration with that client ID.
func (a *Authority) isAudienceOf(aud, clientID string) bool {
	if aud == "" {
		return false
	}
	if strings.EqualFold(aud, clientID) {
		return true
	}
	api := a.apiFor(clientID)
	return api != nil && strings.EqualFold(api.id, clientID) && strings.EqualFold(strings.TrimRight(aud, "/"), api.uri)
}

// mintOBOToken issues the downstream token for the user of the assertion's claims.
func (a *Authority) mintOBOToken(r *http.Request, user map[string]any, clientID string, sr *scopeRequest) (string, error) {
	now := a.cfg.Now()
	oid, _ := user["oid"].(string)
	claims := map[string]any{
		"iat":    now.Unix(),
		"nbf":    now.Unix(),
		"exp":    now.Add(a.cfg.TokenLifetime).Unix(),
		"azpacr": "1", // the middle tier authenticated with its secret
		"oid":    oid,
		"sub":    pairwiseSub(oid, clientID),
		"tid":    user["tid"],
		"scp":    strings.Join(sr.api, " "),
		"uti":    randomToken(16),
	}
	if v, ok := user["name"]; ok {
		claims["name"] = v
	}
	// A v1 assertion names the user by upn: it becomes the new token's preferred_username
	// (accessTokenShape renames it back for a v1 downstream API).
	if v, ok := user["preferred_username"]; ok {
		claims["preferred_username"] = v
	} else if v, ok := user["upn"]; ok {
		claims["preferred_username"] = v
	}
	a.accessTokenShape(claims, r, sr.aud, clientID)
	return a.sign(claims)
}
