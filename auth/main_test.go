package auth

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

// TestMain hides the D-Bus session, as testenv.Run does (which this package cannot import):
// sign-ins with --cache-store auto would otherwise put keys into the developer's real keyring.
// TestSecretServiceKeyStore starts a Secret Service of its own.
func TestMain(m *testing.M) {
	_ = os.Unsetenv("DBUS_SESSION_BUS_ADDRESS")
	os.Exit(m.Run())
}

// newHTTPServer starts a loopback HTTP server running h, closed when the test ends.
func newHTTPServer(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
