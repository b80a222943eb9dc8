package reliability

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
	"github.com/fastmcp-auth/fastmcp-auth/mcpserver"
)

// loadCases are the runs: short in the test command, the report's sizes with RELIABILITY_LONG.
func loadCases() []struct {
	sessions int
	duration time.Duration
} {
	if long() {
		return []struct {
			sessions int
			duration time.Duration
		}{{50, 60 * time.Second}, {200, 60 * time.Second}}
	}
	return []struct {
		sessions int
		duration time.Duration
	}{{50, 3 * time.Second}}
}

// newInProcessServer serves mcpserver.Handler with a real verifier (key set from fx) on a
// loopback httptest server.
func newInProcessServer(t *testing.T, fx *fixture, stateless bool) (*httptest.Server, *auth.Verifier) {
	t.Helper()
	v, err := auth.NewVerifier(context.Background(), auth.VerifierConfig{
		JWKSURI: fx.jwks.URL, Issuers: []string{fxIssuer}, Audiences: []string{fxAudience}, ClockSkew: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	srv := testenv.ServeSelf(t, func(base string) (http.Handler, error) {
		return mcpserver.Handler(mcpserver.Config{
			Verifier: v.Verify, RequiredScopes: []string{"execute"}, PublicURL: base + "/mcp",
			Stateless: stateless, ProgressInterval: 0,
		})
	})
	return srv, v
}

// TestLoadInProcessNoLeak drives mcpserver.Handler in this process, so that its goroutines
// and heap can be counted: after the sessions are closed, both must be back near where they
// were before the load. Every call must succeed and bring its five progress notifications.
func TestLoadInProcessNoLeak(t *testing.T) {
	for _, tc := range loadCases() {
		t.Run(tc.duration.String()+"x"+strconv.Itoa(tc.sessions), func(t *testing.T) {
			fx := newFixture(t)
			srv, _ := newInProcessServer(t, fx, false)
			// Warm up: the first session starts the SDK's and the verifier's lazily
			// created goroutines and caches, which are not a leak.
			if _, err := runLoad(testCtx(t, time.Minute), loadConfig{url: srv.URL + "/mcp", token: fx.token, sessions: 2, duration: 200 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			srv.CloseClientConnections()
			g0, _ := waitGoroutines(0, time.Second)
			h0 := heapMiB()

			ctx := testCtx(t, tc.duration+2*time.Minute)
			during := sampleGoroutines(tc.duration / 2)
			r, err := runLoad(ctx, loadConfig{url: srv.URL + "/mcp", token: fx.token, sessions: tc.sessions, duration: tc.duration})
			if err != nil {
				t.Fatal(err)
			}
			peak, _ := serverGoroutines() // some keep-alive connections may still be closing
			mid := <-during
			if mid <= g0+tc.sessions {
				t.Errorf("only %d server goroutines in the middle of the load (%d before): the count does not see the sessions, so the leak check would prove nothing", mid, g0)
			}
			const slack = 4
			g1, stacks := waitGoroutines(g0+slack, 5*time.Second)
			h1 := heapMiB()
			report(t, "load-inprocess", map[string]any{"load": r, "server_goroutines_before": g0, "server_goroutines_after": g1,
				"server_goroutines_right_after": peak, "server_goroutines_mid_load": mid, "heap_mib_before": round(h0), "heap_mib_after": round(h1)})
			if r.Errors != 0 || r.LostProgress != 0 || r.Calls == 0 {
				t.Errorf("%d calls, %d errors (first: %s), %d calls missing progress; want errors 0 and progress for all", r.Calls, r.Errors, r.FirstError, r.LostProgress)
			}
			if g1 > g0+slack {
				t.Errorf("server goroutines: %d before the load, %d after (slack %d): leak?\n%s", g0, g1, slack, stacks)
			}
			if h1 > h0+16 {
				t.Errorf("heap: %.1f MiB before the load, %.1f MiB after: leak?", h0, h1)
			}
		})
	}
}

// TestLoadBinary drives the real `serve` binary (progress interval 0) and reads its peak
// RSS from /proc.
func TestLoadBinary(t *testing.T) {
	for _, tc := range loadCases() {
		t.Run(tc.duration.String()+"x"+strconv.Itoa(tc.sessions), func(t *testing.T) {
			fx := newFixture(t)
			p := startServe(t, append(fx.serveArgs(), "--progress-interval", "0s")...)
			rss0 := procStatus(p.pid(), "VmRSS")
			r, err := runLoad(testCtx(t, tc.duration+2*time.Minute), loadConfig{url: p.url, token: fx.token, sessions: tc.sessions, duration: tc.duration})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			hwm, rss1 := procStatus(p.pid(), "VmHWM"), procStatus(p.pid(), "VmRSS")
			report(t, "load-binary", map[string]any{"load": r, "rss_mib_idle_before": round(rss0 / 1024),
				"peak_rss_mib": round(hwm / 1024), "rss_mib_after": round(rss1 / 1024)})
			if r.Errors != 0 || r.LostProgress != 0 || r.Calls == 0 {
				t.Errorf("%d calls, %d errors (first: %s), %d calls missing progress; want errors 0 and progress for all", r.Calls, r.Errors, r.FirstError, r.LostProgress)
			}
		})
	}
}

// sampleGoroutines counts the server goroutines once, after d, and sends the count.
func sampleGoroutines(d time.Duration) <-chan int {
	c := make(chan int, 1)
	go func() {
		time.Sleep(d)
		n, _ := serverGoroutines()
		c <- n
	}()
	return c
}
