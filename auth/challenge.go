package auth

import "strings"

// Challenge is one challenge of a WWW-Authenticate header: its scheme and auth-params.
type Challenge struct {
	// Scheme as the server wrote it (compare with strings.EqualFold).
	Scheme string
	// Params holds the auth-params, names lower-cased, quoted values unescaped; the first
	// value of a repeated name wins.
	Params map[string]string
}

// ParseWWWAuthenticate parses the first challenge of a WWW-Authenticate header ([RFC 9110]
// section 11.6.1): the scheme and its auth-params, names lower-cased, quoted values unescaped.
// A token68 challenge or a malformed header yields the scheme and the params read so far.
//
// [RFC 9110]: https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1
func ParseWWWAuthenticate(h string) (scheme string, params map[string]string) {
	cs := ParseChallenges(h)
	if len(cs) == 0 {
		return "", map[string]string{}
	}
	return cs[0].Scheme, cs[0].Params
}

// BearerChallenge returns the auth-params of the Bearer challenge of a WWW-Authenticate header
// ([RFC 6750] section 3: error, error_description, scope, and resource_metadata of
// [RFC 9728]), wherever it stands among the challenges; nil when there is none. The header
// comes from the server and holds no token, so its values may be shown to the user.
//
// [RFC 6750]: https://www.rfc-editor.org/rfc/rfc6750#section-3
// [RFC 9728]: https://www.rfc-editor.org/rfc/rfc9728
func BearerChallenge(h string) map[string]string {
	for _, c := range ParseChallenges(h) {
		if strings.EqualFold(c.Scheme, "bearer") {
			return c.Params
		}
	}
	return nil
}

// ParseChallenges parses every challenge of a WWW-Authenticate header ([RFC 9110] section
// 11.6.1), in order. It is lenient where servers are sloppy: an unquoted value runs to the next
// comma or space even when it is not a token (scope=api://x/execute), and a malformed part
// ends the parse with what was read so far. A token68 challenge (Basic dXNlcg==) has no params.
func ParseChallenges(h string) []Challenge {
	var out []Challenge
	s := strings.TrimSpace(h)
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return out
		}
		n := tokenLen(s)
		if n == 0 {
			return out // not a scheme: malformed
		}
		c := Challenge{Scheme: s[:n], Params: map[string]string{}}
		s = skipToken68(s[n:])
		var ok bool
		s, ok = parseParams(s, c.Params)
		out = append(out, c)
		if !ok {
			return out
		}
	}
}

// skipToken68 skips the token68 that may follow a scheme (Basic dXNlcg==: token characters
// and '/', then '=' padding, then the end of the challenge) and returns the rest; s unchanged
// when auth-params follow instead (their '=' is followed by a value).
func skipToken68(s string) string {
	t := strings.TrimLeft(s, " \t")
	if len(t) == len(s) {
		return s // no space after the scheme: nothing, or the next challenge
	}
	k := 0
	for k < len(t) && (isTokenChar(t[k]) || t[k] == '/') {
		k++
	}
	j := k
	for j < len(t) && t[j] == '=' {
		j++
	}
	if rest := strings.TrimLeft(t[j:], " \t"); k > 0 && (rest == "" || rest[0] == ',') {
		return rest
	}
	return s
}

// parseParams reads the auth-params at the start of s into params until the next challenge's
// scheme, and returns the rest (that scheme onwards). ok is false for a malformed header.
func parseParams(s string, params map[string]string) (rest string, ok bool) {
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return "", true
		}
		n := tokenLen(s)
		after := strings.TrimLeft(s[n:], " \t")
		if n == 0 {
			return "", false
		}
		if !strings.HasPrefix(after, "=") {
			return s, true // the next challenge's scheme
		}
		name := strings.ToLower(s[:n])
		after = strings.TrimLeft(after[1:], " \t")
		var value string
		if strings.HasPrefix(after, `"`) {
			var b strings.Builder
			k := 1
			for ; k < len(after) && after[k] != '"'; k++ {
				if after[k] == '\\' && k+1 < len(after) {
					k++
				}
				b.WriteByte(after[k])
			}
			value = b.String()
			if k < len(after) {
				k++ // closing quote
			}
			s = after[k:]
		} else {
			k := strings.IndexAny(after, ", \t")
			if k < 0 {
				k = len(after)
			}
			value, s = after[:k], after[k:]
		}
		if _, dup := params[name]; !dup {
			params[name] = value
		}
	}
}

// tokenLen is the length of the RFC 9110 token at the start of s.
func tokenLen(s string) int {
	n := 0
	for n < len(s) && isTokenChar(s[n]) {
		n++
	}
	return n
}

// isTokenChar reports an RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
