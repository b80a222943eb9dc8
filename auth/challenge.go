package auth

import "strings"

// ParseWWWAuthenticate parses the first challenge of a WWW-Authenticate header ([RFC 9110]
// section 11.6.1): the scheme and its auth-params, names lower-cased, quoted values unescaped.
// A token68 challenge or a malformed header yields the scheme and the params read so far.
//
// [RFC 9110]: https://www.rfc-editor.org/rfc/rfc9110#section-11.6.1
func ParseWWWAuthenticate(h string) (scheme string, params map[string]string) {
	params = map[string]string{}
	s := strings.TrimSpace(h)
	i := strings.IndexAny(s, " \t,")
	if i < 0 {
		return s, params
	}
	scheme, s = s[:i], s[i:]
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return scheme, params
		}
		// name
		j := 0
		for j < len(s) && isTokenChar(s[j]) {
			j++
		}
		name := strings.ToLower(s[:j])
		rest := strings.TrimLeft(s[j:], " \t")
		if name == "" || !strings.HasPrefix(rest, "=") {
			// Either token68 or the next challenge's scheme: the first challenge ends here.
			return scheme, params
		}
		rest = strings.TrimLeft(rest[1:], " \t")
		var value string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			k := 1
			for ; k < len(rest) && rest[k] != '"'; k++ {
				if rest[k] == '\\' && k+1 < len(rest) {
					k++
				}
				b.WriteByte(rest[k])
			}
			value = b.String()
			if k < len(rest) {
				k++ // closing quote
			}
			rest = rest[k:]
		} else {
			k := 0
			for k < len(rest) && isTokenChar(rest[k]) {
				k++
			}
			value, rest = rest[:k], rest[k:]
		}
		if _, dup := params[name]; !dup {
			params[name] = value
		}
		s = rest
	}
}

// isTokenChar reports an RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
