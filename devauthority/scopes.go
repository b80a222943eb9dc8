package devauthority

import (
	"regexp"
	"slices"
	"strings"
)

// oidcScopes are the OpenID Connect scopes the authority grants besides the API's own.
var oidcScopes = []string{"openid", "profile", "offline_access"}

// shortNamePattern is what an API scope or app role name may look like.
var shortNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// scopeRequest is a parsed scope parameter.
type scopeRequest struct {
	requested []string // as sent, without duplicates: echoed back in this form
	api       []string // short names of the API scopes (what scp carries)
	dflt      bool     // api://<id>/.default was asked for
	// openid asks for an id_token; offline_access for a refresh token.
	openid  bool
	offline bool
}

// parseScopes splits a scope parameter. API scopes are api://<apiClientID>/<name> (prefix
// matched case-insensitively, as Entra does); ".default" stands for every scope in all. Any
// other scope is refused, because a development authority that granted anything would hide
// scope mistakes that Entra reports.
func parseScopes(param, apiClientID string, all []string) (*scopeRequest, *oauthError) {
	sr := &scopeRequest{}
	prefix := "api://" + strings.ToLower(apiClientID) + "/"
	seen := map[string]bool{}
	for _, s := range strings.Fields(param) {
		ls := strings.ToLower(s)
		if seen[ls] {
			continue
		}
		seen[ls] = true
		sr.requested = append(sr.requested, s)
		switch {
		case slices.Contains(oidcScopes, ls):
			sr.openid = sr.openid || ls == "openid"
			sr.offline = sr.offline || ls == "offline_access"
		case strings.HasPrefix(ls, prefix):
			name := s[len(prefix):]
			if name == ".default" {
				sr.dflt = true
				for _, n := range all {
					sr.addAPI(n)
				}
				continue
			}
			if !shortNamePattern.MatchString(name) {
				return nil, errInvalidScope(aadstsInvalidScope, "The provided value for the input parameter 'scope' is not valid. The scope "+quoteScope(s)+" is not valid.")
			}
			sr.addAPI(name)
		default:
			return nil, errInvalidScope(aadstsInvalidScope, "The provided value for the input parameter 'scope' is not valid. The scope "+quoteScope(s)+
				" is not valid: this development authority grants api://"+apiClientID+"/<name>, openid, profile and offline_access only.")
		}
	}
	return sr, nil
}

// addAPI adds an API scope name once, comparing case-insensitively as Entra does.
func (sr *scopeRequest) addAPI(name string) {
	if !slices.ContainsFunc(sr.api, func(n string) bool { return strings.EqualFold(n, name) }) {
		sr.api = append(sr.api, name)
	}
}

// echo is the scope value of a token response: the scopes as the client asked for them, so
// that MSAL, which compares its own strings, finds every one of them.
func (sr *scopeRequest) echo() string { return strings.Join(sr.requested, " ") }

// quoteScope shortens and quotes a scope for an error description.
// Control characters become '?', so a scope echoed in an error cannot forge log lines.
func quoteScope(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return "'" + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s) + "'"
}
