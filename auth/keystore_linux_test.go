//go:build linux

package auth

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// secretService starts a private D-Bus session bus and Debian's gnome-keyring (its Secret
// Service) on it, unlocked with a throw-away password and keeping its keyrings in a temporary
// directory, and points DBUS_SESSION_BUS_ADDRESS at it. Both processes end with the test.
// Missing programs fail the test under CI (scripts/test.sh installs them) and skip it elsewhere.
func secretService(t *testing.T) {
	t.Helper()
	for _, p := range []string{"dbus-daemon", "gnome-keyring-daemon"} {
		testenv.LookPath(t, p+" is not installed: apt-get install dbus gnome-keyring (the Secret Service test needs it under CI)", p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	// A bus configuration of our own, without service directories: the session default would
	// start a second gnome-keyring by D-Bus activation on the first request (racing ours, and
	// outliving the test as the bus daemon's child).
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path=`+filepath.Join(dir, "bus")+`</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy></busconfig>
`), 0o600); err != nil {
		cancel()
		t.Fatal(err)
	}
	bus := exec.CommandContext(ctx, "dbus-daemon", "--config-file="+conf, "--nofork", "--print-address=1")
	out, err := bus.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Start(); err != nil {
		t.Fatal(err)
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cancel()
		_ = bus.Wait()
		t.Fatalf("dbus-daemon gave no address: %v", err)
	}
	addr = strings.TrimSpace(addr)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	home := filepath.Join(dir, "home")
	// gnome-keyring creates the login keyring under XDG_DATA_HOME/keyrings only when the
	// directory above exists.
	if err := os.MkdirAll(filepath.Join(home, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	keyring := exec.CommandContext(ctx, "gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets")
	keyring.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+addr, "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_RUNTIME_DIR="+dir)
	keyring.Stdin = strings.NewReader("throw-away-test-password")
	if err := keyring.Start(); err != nil {
		cancel()
		_ = bus.Wait()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = keyring.Wait()
		_ = bus.Wait()
	})
	// Wait until the Secret Service answers (not found is an answer).
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := (osKeyStore{}).Get(keyService, "probe")
		if err == nil || errors.Is(err, ErrKeyNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Secret Service did not come up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSecretServiceKeyStore runs the keyring cache store against a real Secret Service
// (gnome-keyring over D-Bus): the key is created there once and found again, and a sign-in's
// cache file is encrypted with it and read back by a new Login.
func TestSecretServiceKeyStore(t *testing.T) {
	secretService(t)
	store := OSKeyStore()
	if store == nil {
		t.Fatal("OSKeyStore() is nil with a session bus")
	}
	cacheFile := filepath.Join(t.TempDir(), "token_cache.json")
	key, err := cacheKey(store, cacheFile)
	if err != nil {
		t.Fatalf("create the key in the Secret Service: %v", err)
	}
	again, err := cacheKey(store, cacheFile)
	if err != nil || string(again) != string(key) {
		t.Fatalf("the key read back differs (%v)", err)
	}
	f := newFakeAuthority(t)
	l, _ := newTestLogin(t, f, cacheFile, func(c *LoginConfig) { c.CacheStore = CacheStoreKeyring })
	ctx := testCtx(t)
	tok := deviceSignIn(t, ctx, l)
	data, err := os.ReadFile(cacheFile)
	if err != nil || !isEncrypted(data) || strings.Contains(string(data), tok.AccessToken) {
		t.Fatalf("the cache is not encrypted (%v)", err)
	}
	l2, _ := newTestLogin(t, f, cacheFile, func(c *LoginConfig) { c.CacheStore = CacheStoreKeyring })
	if got, err := l2.Silent(ctx); err != nil || got.AccessToken != tok.AccessToken {
		t.Fatalf("Silent with the key from the Secret Service: %v", err)
	}
}
