// Copyright 2026 The Go MCP SDK Authors. All rights reserved.
// Use of this source code is governed by the license
// that can be found in the LICENSE file.

package json

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// decoderUnmarshal is Unmarshal as it was before it stopped using the
// streaming decoder: the reference the new one must match.
func decoderUnmarshal(data []byte, v any) error {
	if err := checkMaxDepth(data, defaultMaxDepth); err != nil {
		return err
	}
	return NewDecoder(bytes.NewReader(data)).Decode(v)
}

// wireMessage has the shape of the JSON-RPC wire message the SDK decodes.
type wireMessage struct {
	VersionTag string                `json:"jsonrpc"`
	ID         any                   `json:"id,omitempty"`
	Method     string                `json:"method,omitempty"`
	Params     stdjson.RawMessage    `json:"params,omitempty"`
	Result     stdjson.RawMessage    `json:"result,omitempty"`
	Error      *struct{ Code int64 } `json:"error,omitempty"`
	Tags       []string              `json:"tags"`
	Count      *int                  `json:"count"`
}

// targets returns fresh values of the kinds of types the SDK decodes into.
func targets() []any {
	return []any{new(any), new(map[string]any), new(wireMessage), new([]stdjson.RawMessage), new(stdjson.RawMessage), new(string), new(int)}
}

// TestUnmarshalMatchesDecoder checks that Unmarshal gives the same value and
// the same error as the streaming decoder it replaced, on well-formed,
// truncated, corrupted, padded and large inputs.
func TestUnmarshalMatchesDecoder(t *testing.T) {
	seeds := []string{
		``, ` `, " \t\r\n", `null`, `true`, `fals`, `12`, `-1.5e3`, `"str"`, `"a\"b\\c\u00e9\ud800"`,
		`{}`, `[]`, `[1,2,[3,{"a":null}]]`, `{"a":1}{"b":2}`, `{"a":1} trailing`, `{"a":1}   `, `  {"a":1}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"hello"},"_meta":{"progressToken":"p1"}}}`,
		`{"jsonrpc":"2.0","id":"x","result":{"content":[{"type":"text","text":"ok"}]},"tags":["a","b"],"count":3}`,
		`{"jsonrpc":"2.0","ID":1,"Method":"m","tags":null,"count":null}`,
		`{"jsonrpc":2,"id":[1],"tags":"x","count":"3"}`,
		`{"jsonrpc":"2.0","error":{"Code":-32600},"id":null}`,
		`{"a":"` + strings.Repeat("x", 40<<10) + `"}`,
		`[` + strings.Repeat(`{"k":"vvvvvvvv"},`, 3000) + `1]`,
		strings.Repeat("[", 1001) + strings.Repeat("]", 1001),
		`{"a":` + strings.Repeat(" ", 33<<10) + `1}`,
	}
	var inputs []string
	for _, s := range seeds {
		inputs = append(inputs, s)
		// Every prefix of the small seeds, and a sample of the large ones.
		step := 1
		if len(s) > 512 {
			step = len(s)/200 + 1
		}
		for i := 0; i < len(s); i += step {
			inputs = append(inputs, s[:i])
		}
	}
	rng := rand.New(rand.NewSource(1))
	alphabet := []byte(" \t\n{}[]\":,\\0123456789-+.eEtrufalsn\x00\xff")
	for _, s := range seeds {
		if len(s) == 0 || len(s) > 512 {
			continue
		}
		for range 120 {
			b := []byte(s)
			for range 1 + rng.Intn(3) {
				switch i := rng.Intn(len(b) + 1); rng.Intn(3) {
				case 0: // replace
					if i < len(b) {
						b[i] = alphabet[rng.Intn(len(alphabet))]
					}
				case 1: // insert
					b = append(b[:i], append([]byte{alphabet[rng.Intn(len(alphabet))]}, b[i:]...)...)
				case 2: // delete
					if i < len(b) {
						b = append(b[:i], b[i+1:]...)
					}
				}
			}
			inputs = append(inputs, string(b))
		}
	}

	for _, in := range inputs {
		for i, target := range targets() {
			want := targets()[i]
			gotErr := Unmarshal([]byte(in), target)
			wantErr := decoderUnmarshal([]byte(in), want)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || reflect.TypeOf(gotErr) != reflect.TypeOf(wantErr) {
				t.Fatalf("Unmarshal(%.80q) into %T: error %v (%T), the decoder gave %v (%T)", in, target, gotErr, gotErr, wantErr, wantErr)
			}
			if !reflect.DeepEqual(target, want) {
				t.Fatalf("Unmarshal(%.80q) into %T: got %#v, the decoder gave %#v", in, target, target, want)
			}
		}
	}
	t.Logf("%d inputs, %d targets each", len(inputs), len(targets()))
}

// TestUnmarshalAllocations checks that decoding a small message no longer
// allocates the decoder's 32 KiB buffer.
func TestUnmarshalAllocations(t *testing.T) {
	data := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"hello"}}}`)
	var msg wireMessage
	bytesPerCall := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := Unmarshal(data, &msg); err != nil {
				b.Fatal(err)
			}
		}
	}).AllocedBytesPerOp()
	if bytesPerCall >= 4096 {
		t.Errorf("Unmarshal of a %d-byte message allocated %d bytes per call, want < 4096", len(data), bytesPerCall)
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	data := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"hello"},"_meta":{"progressToken":"p1"}}}`)
	for _, bc := range []struct {
		name string
		f    func([]byte, any) error
	}{{"decoder", decoderUnmarshal}, {"direct", Unmarshal}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var msg wireMessage
				if err := bc.f(data, &msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
