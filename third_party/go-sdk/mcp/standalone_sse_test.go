// Copyright 2026 The Go MCP SDK Authors. All rights reserved.
// Use of this source code is governed by the license
// that can be found in the LICENSE file.

package mcp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDisableStandaloneSSE: with the option, a session's GET is answered 405 with Allow after
// the session is checked (an unknown session is still 404), and a client, which opens the
// standalone stream after initialize, goes on working without it.
func TestDisableStandaloneSSE(t *testing.T) {
	server := NewServer(testImpl, nil)
	handler := NewStreamableHTTPHandler(func(*http.Request) *Server { return server }, &StreamableHTTPOptions{DisableStandaloneSSE: true})
	ts := httptest.NewServer(handler)
	defer ts.Close()

	ctx := context.Background()
	client := NewClient(testImpl, nil)
	cs, err := client.Connect(ctx, &StreamableClientTransport{Endpoint: ts.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, err := cs.ListTools(ctx, nil); err != nil {
		t.Fatalf("ListTools without the standalone stream: %v", err)
	}

	for _, tc := range []struct {
		session string
		want    int
	}{
		{cs.ID(), http.StatusMethodNotAllowed},
		{"no-such-session", http.StatusNotFound},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL, nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Mcp-Session-Id", tc.session)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("GET with session %q: status %d, want %d", tc.session, resp.StatusCode, tc.want)
		}
		if tc.want == http.StatusMethodNotAllowed && !strings.Contains(resp.Header.Get("Allow"), "POST") {
			t.Errorf("405 without Allow: POST (Allow: %q)", resp.Header.Get("Allow"))
		}
	}
}
