package testenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// ServeSelf starts a loopback httptest server whose handler mk builds from the server's own
// base URL ("http://127.0.0.1:port"), for handlers that must know where they are served (an
// MCP server states its public URL in its protected resource metadata). A build error fails
// t. When the test ends the server drops its client connections first, so a stream a client
// left open (an MCP event stream) cannot hold Close up, then closes.
func ServeSelf(t testing.TB, mk func(base string) (http.Handler, error)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	h, err := mk("http://" + srv.Listener.Addr().String())
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	srv.Config.Handler = h
	srv.Start()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv
}

// MCPRequest sends NewMCPRequest's request and returns the answer; a transport error fails
// t. The caller closes the answer's body.
func MCPRequest(t testing.TB, method, url, body string, header map[string]string) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(NewMCPRequest(context.Background(), t, method, url, body, header))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// NewMCPRequest builds a request of body to the MCP endpoint url with method, with the
// headers every streamable HTTP client sends (a JSON body; JSON or an event stream accepted)
// and then header; a "Host" entry sets the request's Host instead (for DNS rebinding tests).
func NewMCPRequest(ctx context.Context, t testing.TB, method, url, body string, header map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return req
}
