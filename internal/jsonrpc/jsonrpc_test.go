package jsonrpc

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIDKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ a, b string }{
		{`1`, `1`}, {`1`, `1.0`}, {`"a"`, `"a"`}, {`"\u0061"`, `"a"`}, {` 7 `, `7`},
	} {
		if IDKey([]byte(tc.a)) != IDKey([]byte(tc.b)) {
			t.Errorf("IDKey(%s) != IDKey(%s)", tc.a, tc.b)
		}
	}
	for _, tc := range []struct{ a, b string }{{`1`, `"1"`}, {`1`, `2`}, {`"a"`, `"b"`}} {
		if IDKey([]byte(tc.a)) == IDKey([]byte(tc.b)) {
			t.Errorf("IDKey(%s) == IDKey(%s)", tc.a, tc.b)
		}
	}
	if IDKey(nil) != "" || IDKey([]byte("null")) != "" {
		t.Error("a missing or null id must have no key")
	}
}

func TestSplitBatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{name: "one message", in: `{"id":1}`, want: []string{`{"id":1}`}},
		{name: "batch", in: `[{"id":1}, {"method":"m"}]`, want: []string{`{"id":1}`, `{"method":"m"}`}},
		{name: "empty batch", in: `[]`, wantErr: true},
		{name: "broken batch", in: `[{"id":1}`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			msgs, err := SplitBatch([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want one: %v", err, tc.wantErr)
			}
			var got []string
			for _, m := range msgs {
				got = append(got, string(m))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
