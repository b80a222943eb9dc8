package auth

import (
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
