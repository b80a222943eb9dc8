package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/iotest"
)

// TestBodyReadFailures: both MCP endpoints (sessions and the stateless passthrough) answer
// 413 for a body over the limit and 400 for a body that breaks off, and relay nothing.
func TestBodyReadFailures(t *testing.T) {
	t.Parallel()
	g, err := New(Config{Dial: func(context.Context, SessionInfo, func([]byte), func(error)) (Upstream, error) {
		t.Error("an upstream was started for an unreadable body")
		return nil, errors.New("unused")
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	pass, err := NewPassthrough(Passthrough{URL: "http://127.0.0.1:1/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]struct {
		body func() io.Reader
		want int
	}{
		"too large": {func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte(" "), maxBody+1)) }, http.StatusRequestEntityTooLarge},
		"broken off": {func() io.Reader {
			return io.MultiReader(bytes.NewReader([]byte(`{"jsonrpc":`)), iotest.ErrReader(io.ErrUnexpectedEOF))
		}, http.StatusBadRequest},
	}
	for _, h := range []struct {
		name string
		h    http.Handler
	}{{"sessions", g}, {"passthrough", pass}} {
		for name, b := range bodies {
			req := httptest.NewRequest(http.MethodPost, "/mcp", b.body())
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			rec := httptest.NewRecorder()
			h.h.ServeHTTP(rec, req)
			if rec.Code != b.want {
				t.Errorf("%s, %s: status %d, want %d (%s)", h.name, name, rec.Code, b.want, rec.Body)
			}
		}
	}
}
