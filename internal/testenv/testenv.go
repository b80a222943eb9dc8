// Package testenv holds the test helpers shared by the packages' tests: the fastmcp-auth binary
// built once per test process and `fastmcp-auth serve` run from it, free loopback addresses, an
// in-process development authority, a wait for a health endpoint, node and the npm packages a
// test runs, a loopback server that knows its own URL, a request with MCP's headers, a bounded
// wait for a goroutine's result, a goroutine-safe buffer, the rule for a missing tool (fail
// under CI, skip elsewhere), an nginx in front of test servers, golden-file comparison, a
// settable clock and a bounded test context. Only test code (_test.go files and the *test
// helper packages) imports it.
//
// It imports devauthority, so the devauthority package's internal tests (package devauthority)
// cannot use it; its external tests (package devauthority_test) can.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
)

// mainPackage is the import path of the fastmcp-auth command. Building by import path works
// from any test's working directory inside the module.
const mainPackage = "github.com/fastmcp-auth/fastmcp-auth"

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

// Binary builds the fastmcp-auth command once per test process (without -race: the binary is
// what users run) into a temporary directory and returns its path. A failed build fails t
// with the compiler's output. Call Run from TestMain to remove the directory afterwards.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "fastmcp-auth-test-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "fastmcp-auth")
		out, err := exec.Command("go", "build", "-o", binPath, mainPackage).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("could not build fastmcp-auth: %v", buildErr)
	}
	return binPath
}

// Run runs the package's tests and then removes the binary Binary built, if any; it returns
// the exit code for os.Exit. Use it as `func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }`.
//
// It also hides the D-Bus session from the tests (and the binaries they start): with
// --cache-store auto, sign-ins would otherwise put a key per temporary cache into the
// developer's real keyring. The tests of the OS store start a Secret Service of their own.
func Run(m *testing.M) int {
	HideSessionBus()
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	return code
}

// HideSessionBus unsets DBUS_SESSION_BUS_ADDRESS (see Run).
func HideSessionBus() { _ = os.Unsetenv("DBUS_SESSION_BUS_ADDRESS") }

// FreeAddr returns a loopback host:port that was free at the time of the call: nothing
// listens there, so it serves both as an address to start a server on and as a
// connection-refused target.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// DevAuthority starts an in-process development authority with cfg and stops it
// (StopAuthority) at cleanup. An empty Addr becomes a free loopback port and an empty StateDir
// a temporary directory.
func DevAuthority(t testing.TB, cfg devauthority.Config) *devauthority.Authority {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	a, err := devauthority.New(cfg)
	if err != nil {
		t.Fatalf("devauthority.New: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("devauthority.Start: %v", err)
	}
	t.Cleanup(func() { _ = StopAuthority(a) })
	return a
}

// StopAuthority shuts a down, giving the requests in flight at most 5s, for a test that stops
// its authority before the end (to see what its clients do then, or to restart it).
func StopAuthority(a *devauthority.Authority) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return a.Shutdown(ctx)
}

// Serve runs `fastmcp-auth serve --addr addr args...` (Binary) as a process set up through its
// environment for the development authority a, with public as its public URL (that of the MCP
// endpoint), and waits until its /healthz answers. Its stdout and stderr go to the returned
// buffer. At cleanup, unless the test has already waited for it, it gets SIGTERM and is waited
// for (the exit status of a server stopped by a signal says nothing); a failed test's log
// shows its output.
func Serve(t testing.TB, a *devauthority.Authority, addr, public string, args ...string) (*exec.Cmd, *SyncBuffer) {
	t.Helper()
	cmd := exec.Command(Binary(t), append([]string{"serve", "--addr", addr}, args...)...) //nolint:gosec // G204: the binary under test
	cmd.Env = append(os.Environ(),
		"FASTMCP_AUTH_AUTHORITY="+a.URL(), "FASTMCP_AUTH_CA_FILE="+a.CAFile(),
		"FASTMCP_AUTH_API_CLIENT_ID="+devauthority.DefaultAPIClientID, "FASTMCP_AUTH_PUBLIC_URL="+public)
	logs := &SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("serve %s logs:\n%s", addr, logs.String())
		}
	})
	WaitHealthy(t, "http://"+addr+"/healthz", 15*time.Second) // the cleanup prints the logs
	return cmd, logs
}

// WaitHealthy polls url with GET every 50ms until it answers 200 OK, and fails t if it has
// not within timeout.
func WaitHealthy(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(url) //nolint:gosec // G107: a loopback server the test started
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become healthy within %v: %v", url, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Context returns a context for a test's calls that ends after timeout, so that a hung call
// fails the test rather than stalling the whole run, and is cancelled when the test ends.
func Context(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// SyncBuffer is a bytes.Buffer safe for one goroutine writing (a process's stderr, a logger)
// while the test reads.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Returns waits at most within for the error a goroutine sends on done, and fails t if none
// comes in time (what, e.g. "shutdown after cancel", names the wait) or if it is not nil.
func Returns(t testing.TB, done <-chan error, within time.Duration, what string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(within):
		t.Fatalf("%s: no return within %v", what, within)
	}
}
