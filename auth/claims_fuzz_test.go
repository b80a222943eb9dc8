package auth

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// decodeObjectReference is the plain encoding/json.Decoder version of decodeObject: slower
// (it allocates for every token), obviously right, and the oracle of FuzzDecodeClaims.
func decodeObjectReference(b []byte, what string, field func([]byte) any) *TokenError {
	malformed := &TokenError{Reason: ReasonMalformed}
	if !json.Valid(b) { // invalid JSON is malformed, whatever a streaming read meets first
		return malformed
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return malformed
	}
	var names [][]byte
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return malformed
		}
		name := []byte(t.(string))
		for _, first := range names {
			if foldName(string(first)) == foldName(string(name)) {
				return tokenErr(ReasonMalformed, "token repeats the "+what+" "+quoteSafe(first, name, field))
			}
		}
		names = append(names, name)
		dst := field(name)
		if dst == nil {
			dst = new(json.RawMessage)
		}
		if err := dec.Decode(dst); err != nil {
			return malformed
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return malformed
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed
	}
	return nil
}

func quoteSafe(first, name []byte, field func([]byte) any) string {
	shown := safeName(first, field)
	if shown == "?" {
		shown = safeName(name, field)
	}
	b, _ := json.Marshal(shown)
	return string(b)
}

// FuzzDecodeClaims checks the hand-written scan of decodeObject against the encoding/json
// oracle: the same claims, the same refusals, on any input.
func FuzzDecodeClaims(f *testing.F) {
	for _, s := range []string{
		`{"aud":"a","AUD":"b"}`, `{"iss":"i","sub":"s","exp":1e300,"aud":["x","y"],"roles":null}`,
		`{"\u0061ud":"x","scp":"a b"}`, `{"ſub":1,"sub":"x"}`, ` { "a" : { "b" : [1, "}", {"c":"]"}] } , "name":"é\ud83d\ude00" } `,
		`{"exp":"tomorrow"}`, `{}`, `[1]`, `{"a":1}{}`, `{"name":"a\"b","oid":"o\u0000"}`, "{\"name\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want tokenClaims
		gerr := decodeObject(b, "claim", got.field)
		werr := decodeObjectReference(b, "claim", want.field)
		if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Description != werr.Description {
			t.Fatalf("decodeObject %v, reference %v", gerr, werr)
		}
		if gerr == nil {
			if diff := cmp.Diff(want, got, cmp.AllowUnexported(tokenClaims{}, numericDate{})); diff != "" {
				t.Fatalf("claims (-reference +decodeObject):\n%s", diff)
			}
		}
	})
}
