package mcpclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/mcpclient"
)

// TestNotAnMCPEndpointSaysWhatToCheck: a URL answering 405 (a health or REST path given as
// --server) is neither unreachable nor an auth failure; the error must still say what to do.
func TestNotAnMCPEndpointSaysWhatToCheck(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	}))
	t.Cleanup(srv.Close)
	_, err := mcpclient.Connect(context.Background(), mcpclient.Config{Server: srv.URL + "/healthz", Token: auth.StaticToken("x")})
	if err == nil {
		t.Fatal("Connect succeeded against a non-MCP endpoint")
	}
	msg := err.Error()
	for _, want := range []string{srv.URL + "/healthz", "check that --server is the URL of an MCP endpoint"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "\n") || strings.Contains(msg, "Bearer") {
		t.Errorf("message %q has a newline or the Authorization header", msg)
	}
}
