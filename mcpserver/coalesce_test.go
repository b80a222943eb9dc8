package mcpserver

import (
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// flushCounter is a ResponseRecorder that counts the flushes that reach it (each would be a
// write to the socket).
type flushCounter struct {
	*httptest.ResponseRecorder
	flushes atomic.Int32
}

func (f *flushCounter) Flush() {
	f.flushes.Add(1)
	f.ResponseRecorder.Flush()
}

// TestQuickCallLeavesInOneFlush: a call that sends its five progress notifications and its
// answer without waiting reaches the writer in at most two flushes, where the go-sdk alone
// flushes once per event (six), and every event is there. GOMAXPROCS 1 makes the outcome
// certain: the flusher can only run when the tool's goroutine waits. (Not parallel: it sets
// GOMAXPROCS for the whole test binary.) That progress still leaves at once when the tool
// waits between steps is TestCancellationStopsTheHandler's premise: it cancels on the first
// notification.
func TestQuickCallLeavesInOneFlush(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	h, err := Handler(Config{NoAuth: true, PublicURL: "http://127.0.0.1:8000/mcp", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sid := benchInitialize(t, h, "")
	for i := range 20 {
		body := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"abc"},"_meta":{"progressToken":"p"}}}`
		w := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
		h.ServeHTTP(w, benchRequest("", sid, body))
		got := w.Body.String()
		if n := strings.Count(got, `"method":"notifications/progress"`); n != ProgressSteps || !strings.Contains(got, `"reversed_query":"cba"`) {
			t.Fatalf("call %d: %d progress events (want %d) or no answer in %q", i, n, ProgressSteps, got)
		}
		if n := w.flushes.Load(); n > 2 {
			t.Fatalf("call %d: %d flushes for one quick call, want at most 2", i, n)
		}
	}
}
