package reliability

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth/authtest"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// long reports whether the long runs (figures for docs/reliability.md) were asked for.
func long() bool { return os.Getenv("RELIABILITY_LONG") != "" }

// TestMain removes the binary testenv.Binary built.
func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// Token settings shared by the fixtures: the server accepts this issuer and audience, and
// requires the default scope "execute".
const (
	fxTenant   = "00000000-0000-0000-0000-00000000beef"
	fxIssuer   = "https://login.reliability.test/" + fxTenant + "/v2.0"
	fxAudience = "api://reliability-api"
)

// fixture is a signing key published by a loopback key set server, and a valid token.
type fixture struct {
	key   *authtest.Key
	jwks  *authtest.JWKSServer
	token string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	k := authtest.NewKey(t, "rel-key-1")
	fx := &fixture{key: k, jwks: authtest.NewJWKSServer(t, k)}
	fx.token = fx.mint(t, k, "")
	return fx
}

// mint signs a valid token with k; sub, when set, replaces the subject.
func (fx *fixture) mint(t *testing.T, k *authtest.Key, sub string) string {
	t.Helper()
	c := authtest.EntraV2Claims(fxTenant, fxIssuer, fxAudience, "execute")
	if sub != "" {
		c["sub"] = sub
		c["oid"] = sub
	}
	return authtest.Mint(t, k, c)
}

// serveArgs are the serve flags pointing the binary at the fixture's key set.
func (fx *fixture) serveArgs() []string {
	return []string{"--jwks-uri", fx.jwks.URL, "--issuer", fxIssuer, "--audience", fxAudience}
}

// serveProc is a running `fastmcp-auth serve`.
type serveProc struct {
	cmd    *exec.Cmd
	url    string // public URL of the MCP endpoint
	addr   string // host:port it listens on
	stderr *testenv.SyncBuffer
	done   chan struct{}
	err    error // Wait's error, valid once done is closed
}

// startServe runs `fastmcp-auth serve --addr 127.0.0.1:0 --log-format json ARGS` and waits
// for its "serving" line. The process is stopped (SIGTERM, then SIGKILL) at cleanup.
func startServe(t *testing.T, args ...string) *serveProc {
	t.Helper()
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)
	cmd := exec.Command(testenv.Binary(t), all...)
	cmd.Env = cleanEnv()
	pr, pw := io.Pipe()
	p := &serveProc{cmd: cmd, stderr: &testenv.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = io.MultiWriter(p.stderr, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		_ = pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t, 10*time.Second) })

	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			if signalled {
				continue // keep draining so that the process never blocks on stderr
			}
			var line struct {
				Msg       string `json:"msg"`
				Addr      string `json:"addr"`
				PublicURL string `json:"public_url"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
				p.addr, p.url = line.Addr, line.PublicURL
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("serve exited before serving: %v\n%s", p.err, p.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not start within 20s:\n%s", p.stderr.String())
	}
	return p
}

// stop sends SIGTERM and waits up to grace, then kills.
func (p *serveProc) stop(t *testing.T, grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		t.Errorf("serve did not stop within %v of SIGTERM; killing it", grace)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// pid is the server's process ID.
func (p *serveProc) pid() int { return p.cmd.Process.Pid }

// requestLines counts the request log lines for path.
func (p *serveProc) requestLines(path string) int {
	n := 0
	for _, l := range strings.Split(p.stderr.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) && strings.Contains(l, `"path":"`+path+`"`) {
			n++
		}
	}
	return n
}

// cleanEnv is the environment for child processes: no FASTMCP_AUTH_* settings leak in from
// the developer's shell, and HOME points nowhere useful so no user cache is touched.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FASTMCP_AUTH_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// procStatus reads a field of /proc/<pid>/status in KiB (VmHWM, VmRSS).
func procStatus(pid int, field string) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb
		}
	}
	return 0
}

// serverFrames are the stack frames that mark a goroutine as the server's (or the MCP
// machinery's) rather than the test harness's: counting only these keeps the leak checks
// exact while unrelated goroutines (exec pipes, the race detector) come and go.
var serverFrames = []string{
	"net/http.(*conn).serve",
	"net/http.(*persistConn)",
	"modelcontextprotocol/go-sdk",
	"fastmcp-auth/mcpserver",
	"fastmcp-auth/auth.",
}

// serverGoroutines counts the goroutines whose stack has one of serverFrames, and returns
// their stacks for the failure message.
func serverGoroutines() (int, string) {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	var kept []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, f := range serverFrames {
			if strings.Contains(g, f) {
				n++
				kept = append(kept, g)
				break
			}
		}
	}
	return n, strings.Join(kept, "\n\n")
}

// waitGoroutines waits up to d for the server goroutine count to fall to at most limit, and
// returns the last count and stacks.
func waitGoroutines(limit int, d time.Duration) (int, string) {
	deadline := time.Now().Add(d)
	for {
		n, stacks := serverGoroutines()
		if n <= limit || time.Now().After(deadline) {
			return n, stacks
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// heapMiB is the live heap after a full GC, in MiB.
func heapMiB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / (1 << 20)
}

// report logs one figure set as a JSON line that docs/reliability.md quotes.
func report(t *testing.T, name string, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	t.Logf("RESULT %s %s", name, b)
}

// testCtx is a context bounded by d and the test.
func testCtx(t *testing.T, d time.Duration) context.Context { return testenv.Context(t, d) }
