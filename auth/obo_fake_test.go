package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// entraFake is an Entra-like authority answering the token endpoint with body (status), and
// recording the last form it received.
func entraFake(t *testing.T, status int, body string) (*httptest.Server, func() map[string][]string) {
	t.Helper()
	var mu sync.Mutex
	var last map[string][]string
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("GET /tenant1/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{
			"issuer": srv.URL + "/tenant1/v2.0", "authorization_endpoint": srv.URL + "/tenant1/oauth2/v2.0/authorize",
			"token_endpoint": srv.URL + "/tenant1/oauth2/v2.0/token",
		})
	})
	mux.HandleFunc("POST /tenant1/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		mu.Lock()
		last = r.PostForm
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	})
	srv = httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	return srv, func() map[string][]string { mu.Lock(); defer mu.Unlock(); return last }
}

// writeCertPEM writes a self-signed certificate and its key to one PEM file.
func writeCertPEM(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048) // MSAL takes RSA keys only
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := testenv.SelfSignedPEM(t, key, "api")
	return testenv.WriteFile(t, t.TempDir(), "api.pem", certPEM+keyPEM)
}
