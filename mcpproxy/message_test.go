package mcpproxy

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBearerChallenge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, header string
		want         challenge
	}{
		{"invalid token", `Bearer error="invalid_token", error_description="token expired at 2026-01-02T15:04:05Z", resource_metadata="http://x/.well-known/oauth-protected-resource"`,
			challenge{Error: "invalid_token", Description: "token expired at 2026-01-02T15:04:05Z"}},
		{"insufficient scope", `Bearer error="insufficient_scope", scope="execute read"`, challenge{Error: "insufficient_scope", Scope: "execute read"}},
		{"no error", `Bearer resource_metadata="http://x", scope="execute"`, challenge{Scope: "execute"}},
		{"escaped quote and token value", `bearer error=invalid_token, error_description="a \"quoted\" reason"`,
			challenge{Error: "invalid_token", Description: `a "quoted" reason`}},
		{"empty", ``, challenge{}},
		{"garbage", `Bearer ,,, =`, challenge{}},
		{"unterminated", `Bearer error="invalid_tok`, challenge{Error: "invalid_tok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if diff := cmp.Diff(tc.want, bearerChallenge(tc.header)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadSSE(t *testing.T) {
	t.Parallel()
	stream := ": keep-alive\n\n" +
		"event: message\nid: 1\ndata: {\"a\":1}\n\n" +
		"data: {\"b\":\ndata: 2}\r\n\r\n" + // multi-line data, CRLF
		"retry: 100\n\n" + // no data: no event
		"data: {\"cut\":true}" // cut off by the end of the stream: dropped
	var got []string
	if err := readSSE(strings.NewReader(stream), func(d []byte) bool { got = append(got, string(d)); return false }); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`{"a":1}`, "{\"b\":\n2}"}, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	got = nil
	_ = readSSE(strings.NewReader("data: 1\n\ndata: 2\n\n"), func(d []byte) bool { got = append(got, string(d)); return true })
	if diff := cmp.Diff([]string{"1"}, got); diff != "" {
		t.Errorf("stop after the first event (-want +got):\n%s", diff)
	}
}

// recordingWriter records when each write happened.
type recordingWriter struct {
	mu    sync.Mutex
	lines []string
	times []time.Time
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(w.lines, string(p))
	w.times = append(w.times, time.Now())
	return len(p), nil
}

func TestLineWriterGapAfterProgressAndCompaction(t *testing.T) {
	t.Parallel()
	rw := &recordingWriter{}
	lw := &lineWriter{w: rw, gap: 30 * time.Millisecond}
	progress := []byte(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":5}}`)
	lw.write(progress, &envelope{Method: methodProgress})
	lw.write([]byte("{\"jsonrpc\":\"2.0\",\n \"id\":1,\"result\":{}}"), &envelope{ID: []byte("1")})
	lw.write([]byte(`{"jsonrpc":"2.0","id":2,"result":{}}`), &envelope{ID: []byte("2")})
	if gap := rw.times[1].Sub(rw.times[0]); gap < 30*time.Millisecond {
		t.Errorf("response written %v after the progress, want at least 30ms", gap)
	}
	if gap := rw.times[2].Sub(rw.times[1]); gap > 20*time.Millisecond {
		t.Errorf("a response not following a progress waited %v", gap)
	}
	want := []string{string(progress) + "\n", `{"jsonrpc":"2.0","id":1,"result":{}}` + "\n", `{"jsonrpc":"2.0","id":2,"result":{}}` + "\n"}
	if diff := cmp.Diff(want, rw.lines); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}
