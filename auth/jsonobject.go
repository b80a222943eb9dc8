package auth

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// decodeObject decodes the JSON object b member by member, each into field(name) (skipped when
// nil), and refuses an object that names a member twice in any case, with the description
// `token repeats the <what> "<name>"`. Other failures return a TokenError with an empty
// Description for the caller to fill.
//
// Why not json.Unmarshal into a tagged struct: encoding/json matches names case-insensitively
// (with Unicode folding: "ſub" matches "sub") and lets a later member win, so a signed payload
// of "aud":"other-api", ..., "AUD":"<ours>" would pass the audience check, and "SCP" would
// override "scp". The issuer signed the whole payload, but a payload that names a claim twice
// reads differently to different parsers, and the safe answer is to refuse it.
func decodeObject(b []byte, what string, field func(name []byte) any) *TokenError {
	// Validated first, so that the scan below can take the syntax for granted; json.Valid
	// also refuses trailing data after the object.
	if !json.Valid(b) {
		return &TokenError{Reason: ReasonMalformed}
	}
	i := skipSpace(b, 0)
	if b[i] != '{' {
		return &TokenError{Reason: ReasonMalformed}
	}
	i++
	// The names as written, in order (slices of b unless escaped); a token has a few dozen.
	names := make([][]byte, 0, 32)
	for {
		i = skipSpace(b, i)
		switch b[i] {
		case '}':
			return nil
		case ',':
			i = skipSpace(b, i+1)
		}
		end := skipString(b, i)
		name, err := memberName(b[i:end])
		if err != nil {
			return &TokenError{Reason: ReasonMalformed}
		}
		i = skipSpace(b, end) + 1 // the colon
		i = skipSpace(b, i)
		vend := skipValue(b, i)
		// Quadratic, but only over the member names of a payload whose signature checked out,
		// and without the allocations a map of folded names would cost on every token.
		for _, first := range names {
			if sameFolded(first, name) {
				shown := safeName(first, field)
				if shown == "?" {
					shown = safeName(name, field)
				}
				return tokenErr(ReasonMalformed, "token repeats the "+what+" "+strconv.Quote(shown))
			}
		}
		names = append(names, name)
		if dst := field(name); dst != nil {
			if err := decodeValue(b[i:vend], dst); err != nil {
				return &TokenError{Reason: ReasonMalformed}
			}
		}
		i = vend
	}
}

// memberName decodes a quoted member name; only names with escapes go through encoding/json.
func memberName(quoted []byte) ([]byte, error) {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return quoted[1 : len(quoted)-1], nil
	}
	var s string
	err := json.Unmarshal(quoted, &s)
	return []byte(s), err
}

// decodeValue decodes one member's JSON value into dst. A plain string (no escape, valid
// UTF-8: what encoding/json would copy unchanged) is copied directly, which is most claims;
// everything else goes through encoding/json.
func decodeValue(v []byte, dst any) error {
	switch d := dst.(type) {
	case *string:
		if len(v) >= 2 && v[0] == '"' && bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
			*d = string(v[1 : len(v)-1])
			return nil
		}
	case *numericDate:
		return d.UnmarshalJSON(v)
	case *stringList:
		return d.UnmarshalJSON(v)
	}
	return json.Unmarshal(v, dst)
}

// The skip functions below walk JSON that json.Valid accepted; each returns the index just
// after the item that starts at i.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// sameFolded reports whether foldName(a) == foldName(b), without building either.
func sameFolded(a, b []byte) bool {
	for len(a) > 0 && len(b) > 0 {
		ra, na := utf8.DecodeRune(a)
		rb, nb := utf8.DecodeRune(b)
		if ra != rb && unicode.ToUpper(unicode.ToLower(ra)) != unicode.ToUpper(unicode.ToLower(rb)) {
			return false
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) == 0 && len(b) == 0
}

// foldName folds a member name the way encoding/json does when it matches names to fields
// (ASCII upper case; other runes through unicode.ToUpper(unicode.ToLower(r))), so that every
// spelling encoding/json, or another lenient parser, would confuse counts as a repeat.
func foldName(name string) string {
	var sb strings.Builder
	sb.Grow(len(name))
	for _, r := range name {
		sb.WriteRune(unicode.ToUpper(unicode.ToLower(r)))
	}
	return sb.String()
}

// safeName is the repeated name as the error description shows it: the name Verify reads when
// it is one of those (whatever case the token used), else the name itself when it is short and
// plain, else "?". The description travels in a WWW-Authenticate header and a log line, so
// nothing the token chose goes there unchecked.
func safeName(nameBytes []byte, field func([]byte) any) string {
	name := string(nameBytes)
	if lower := strings.ToLower(foldName(name)); field([]byte(lower)) != nil {
		return lower
	}
	if len(name) == 0 || len(name) > 40 {
		return "?"
	}
	for _, r := range name {
		if !isNameChar(r) {
			return "?"
		}
	}
	return name
}

// isNameChar reports an ASCII letter, digit, '_', '-' or '.': the characters a claim name is
// quoted with in a message.
func isNameChar(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return r == '_' || r == '-' || r == '.'
}
