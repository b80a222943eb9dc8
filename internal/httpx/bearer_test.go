package httpx

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestBearerTransport: every request reaches the server with the bearer header, through the
// default transport when Base is nil, and the caller's request is left without it.
func TestBearerTransport(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		got []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Header.Get("Authorization"))
	}))
	t.Cleanup(srv.Close)
	for _, base := range []http.RoundTripper{nil, srv.Client().Transport} {
		client := &http.Client{Transport: &BearerTransport{Token: "tok-1", Base: base}}
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if h := req.Header.Get("Authorization"); h != "" {
			t.Errorf("the caller's request was changed: Authorization %q", h)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != "Bearer tok-1" || got[1] != "Bearer tok-1" {
		t.Errorf("Authorization seen by the server: %q, want Bearer tok-1 twice", got)
	}
}
