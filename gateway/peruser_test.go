package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// fakeExchange is a TokenExchange that counts each user's exchanges and can be made to fail.
type fakeExchange struct {
	clock *testenv.Clock
	mu    sync.Mutex
	n     map[string]int
	force []bool
	fail  error
}

func (x *fakeExchange) exchange(_ context.Context, id *auth.Identity, _ string, force bool) (*auth.Token, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.force = append(x.force, force)
	if x.fail != nil {
		return nil, x.fail
	}
	if x.n == nil {
		x.n = map[string]int{}
	}
	x.n[id.ObjectID]++
	return &auth.Token{AccessToken: fmt.Sprintf("obo-%s-%d", id.ObjectID, x.n[id.ObjectID]), ExpiresOn: x.clock.Now().Add(time.Hour)}, nil
}

func (x *fakeExchange) setFail(err error) {
	x.mu.Lock()
	x.fail = err
	x.mu.Unlock()
}

const tokenVar = "UPSTREAM_TOKEN"

// perUserHarness runs a gateway with --per-user (and, with x, --obo-token-env UPSTREAM_TOKEN);
// mods change the gateway's Config first.
func perUserHarness(t *testing.T, x *fakeExchange, mods ...func(*Config)) (*harness, *PerUser) {
	t.Helper()
	var pu *PerUser
	h := newHarness(t, func(c *Config) {
		for _, mod := range mods {
			mod(c)
		}
		pc := PerUserConfig{Dial: c.Dial, Logger: c.Logger}
		if x != nil {
			pc.TokenEnv, pc.Now, pc.AfterFunc = tokenVar, x.clock.Now, x.clock.AfterFunc
			c.OBO = x.exchange
		}
		var err error
		if pu, err = NewPerUser(pc); err != nil {
			t.Fatal(err)
		}
		c.Dial = pu.Dial
	})
	t.Cleanup(func() { _ = pu.Close() })
	return h, pu
}

func newFakeExchange() *fakeExchange {
	return &fakeExchange{clock: testenv.NewClock(time.Unix(1_700_000_000, 0))}
}

func envOf(t *testing.T, c *client, name string) string {
	t.Helper()
	return textOf(t, final(t, c.call("tools/call", toolCall("env", map[string]any{"name": name}))))
}

// TestPerUserOneProcessPerUser: a user's sessions share one process, users never do, the
// server's notifications reach only its user's sessions, and the last session takes the
// process with it.
func TestPerUserOneProcessPerUser(t *testing.T) {
	t.Parallel()
	h, pu := perUserHarness(t, nil)
	a1, a2, b := h.started("alice"), h.started("alice"), h.started("bob")
	pa1, pa2, pb := childPID(t, a1), childPID(t, a2), childPID(t, b)
	if pa1 != pa2 || pa1 == pb {
		t.Fatalf("pids alice %d and %d, bob %d: want alice's shared and bob's apart", pa1, pa2, pb)
	}
	if n := pu.Processes(); n != 2 {
		t.Fatalf("%d processes, want 2", n)
	}
	// The notification precedes the answer on the process's stdout, so it has been routed
	// once the answer is in: alice's other session holds it (no GET stream open), bob's not.
	if got := textOf(t, final(t, a1.call("tools/call", toolCall("notify", nil)))); got != "notified" {
		t.Fatalf("notify: %q", got)
	}
	backlog := func(c *client) int {
		s := h.g.lookup(c.sid)
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.backlog)
	}
	if backlog(a2) != 1 || backlog(b) != 0 {
		t.Errorf("notification backlog: alice's other session %d (want 1), bob %d (want 0)", backlog(a2), backlog(b))
	}
	for _, c := range []*client{a1, a2} {
		resp := c.request(http.MethodDelete, nil)
		resp.Body.Close()
		if alive(pa1) != (c == a1) {
			t.Fatalf("after closing alice's session %d of 2: process alive %v", map[*client]int{a1: 1, a2: 2}[c], alive(pa1))
		}
	}
	if n := pu.Processes(); n != 1 || !alive(pb) {
		t.Errorf("after alice left: %d processes, bob's alive %v", n, alive(pb))
	}
}

// TestPerUserServerRequestWithSeveralCallsInFlight: with two of a user's sessions busy, a
// server request (sampling) that --shared-upstream would refuse goes to one of that user's
// sessions (the newest busy one), since it cannot reach another user.
func TestPerUserServerRequestWithSeveralCallsInFlight(t *testing.T) {
	t.Parallel()
	h, pu := perUserHarness(t, nil)
	a1, a2 := h.started("alice"), h.started("alice")
	slow := make(chan []rpcMsg, 1)
	go func() { slow <- a1.call("tools/call", toolCall("slow", nil)) }()
	waitPending(t, pu, "t/alice", 1)
	if answered, msgs := callSample(t, a2, "alice's answer"); !answered || !strings.Contains(textOf(t, final(t, msgs)), "alice's answer") {
		t.Errorf("sampling with two busy sessions of one user: %+v", msgs)
	}
	// End the slow call (cancelled with its session) rather than wait for it.
	resp := a1.request(http.MethodDelete, nil)
	resp.Body.Close()
	<-slow
}

// waitPending waits until owner's process has n calls in flight.
func waitPending(t *testing.T, pu *PerUser, owner string, n int) {
	t.Helper()
	pu.mu.Lock()
	sh := pu.users[owner].sh
	pu.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		sh.mu.Lock()
		got := len(sh.pending)
		sh.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d calls in flight upstream, want %d", owner, got, n)
		}
	}
}

// TestPerUserProcessEndsWhenIdle: the idle timeout ends the user's sessions, and with the
// last one the process.
func TestPerUserProcessEndsWhenIdle(t *testing.T) {
	t.Parallel()
	h, pu := perUserHarness(t, nil, func(c *Config) { c.IdleTimeout = 300 * time.Millisecond })
	a1, a2 := h.started("alice"), h.started("alice")
	pid := childPID(t, a1)
	if other := childPID(t, a2); other != pid {
		t.Fatalf("alice's sessions have processes %d and %d", pid, other)
	}
	waitGone(t, pid, "after the idle timeout")
	if n := pu.Processes(); n != 0 || h.g.Sessions() != 0 {
		t.Errorf("after the idle timeout: %d processes, %d sessions", n, h.g.Sessions())
	}
}

// TestPerUserTokenInEnvironment: each user's process has that user's On-Behalf-Of token in
// the variable, and nothing of the gateway's environment that was not passed; no token in
// the log.
func TestPerUserTokenInEnvironment(t *testing.T) {
	t.Setenv("GATEWAY_OWN_SECRET", "not-for-children")
	x := newFakeExchange()
	h, _ := perUserHarness(t, x)
	a, b := h.started("alice"), h.started("bob")
	if got := envOf(t, a, tokenVar); got != "obo-alice-1" {
		t.Errorf("alice's process: %s=%q", tokenVar, got)
	}
	if got := envOf(t, b, tokenVar); got != "obo-bob-1" {
		t.Errorf("bob's process: %s=%q", tokenVar, got)
	}
	if got := envOf(t, a, "GATEWAY_OWN_SECRET"); got != "" {
		t.Errorf("an unpassed variable reached the child: %q", got)
	}
	for _, tok := range []string{"obo-alice-1", "obo-bob-1", "caller-token-of-alice"} {
		if strings.Contains(h.logs.String(), tok) {
			t.Errorf("the log holds %q", tok)
		}
	}
}

// TestPerUserRenewalRestartsAndKeepsTheSession: at the renewal point the process restarts
// with a fresh token (a forced exchange), re-initialized with the client's own initialize;
// the session goes on, and a call in flight is told the upstream restarted.
func TestPerUserRenewalRestartsAndKeepsTheSession(t *testing.T) {
	t.Parallel()
	x := newFakeExchange()
	h, pu := perUserHarness(t, x)
	a := h.started("alice")
	before := childPID(t, a)
	timers := x.clock.Armed()
	if len(timers) != 1 || timers[0].D != 48*time.Minute {
		t.Fatalf("renewal timers %+v, want one at 48m (80%% of 1h)", timers)
	}
	// A slow call is in flight on the old process when it is replaced.
	slow := make(chan []rpcMsg)
	go func() { slow <- a.call("tools/call", toolCall("slow", nil)) }()
	waitPending(t, pu, "t/alice", 1)
	// State the client set and the protocol lets the gateway set again.
	for _, req := range []struct {
		method string
		params any
	}{{"resources/subscribe", map[string]any{"uri": "mem://public/a"}}, {"logging/setLevel", map[string]any{"level": "debug"}}} {
		if m := final(t, a.call(req.method, req.params)); m.Error != nil {
			t.Fatalf("%s: %+v", req.method, m.Error)
		}
	}
	timers[0].Fire()
	if got := textOf(t, final(t, a.call("tools/call", toolCall("state", nil)))); got != "subs=[mem://public/a] level=[debug]" {
		t.Errorf("the new process got %q: want the subscription and the log level again", got)
	}
	if m := final(t, <-slow); m.Error == nil || m.Error.Code != CodeUpstreamRestarted || !strings.Contains(m.Error.Message, "restarted") {
		t.Errorf("the call in flight got %+v, want a restart error", m)
	}
	if got := envOf(t, a, tokenVar); got != "obo-alice-2" {
		t.Errorf("after the restart: %s=%q, want the renewed token", tokenVar, got)
	}
	after := childPID(t, a)
	if after == before {
		t.Error("the process was not restarted")
	}
	waitGone(t, before, "the replaced process")
	var init struct {
		ClientInfo struct{ Name string } `json:"clientInfo"`
	}
	if err := json.Unmarshal([]byte(textOf(t, final(t, a.call("tools/call", toolCall("init", nil))))), &init); err != nil || init.ClientInfo.Name != "t" {
		t.Errorf("the new process was not initialized with the client's params: %+v %v", init, err)
	}
	x.mu.Lock()
	forced := x.force[len(x.force)-1]
	x.mu.Unlock()
	if !forced {
		t.Error("the renewal did not force a fresh exchange")
	}
	if n := len(x.clock.Armed()); n != 1 {
		t.Errorf("%d renewal timers armed after the restart, want 1", n)
	}
}

// TestPerUserExchangeFailure: a user whose token cannot be exchanged is told so, with the
// exchange's text: at initialize as a JSON-RPC error, and, once the process's token has
// expired, at tools/call as a tool error; the next successful exchange restarts the process.
func TestPerUserExchangeFailure(t *testing.T) {
	t.Parallel()
	x := newFakeExchange()
	need := errors.New("AADSTS65001: the user has not consented: ask an administrator to grant consent")
	x.setFail(need)
	h, pu := perUserHarness(t, x)
	resp := h.client("alice").request(http.MethodPost, []byte(initializeRequest))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var m rpcMsg
	if err := json.Unmarshal(body, &m); err != nil || m.Error == nil || m.Error.Code != CodeTokenUnavailable || !strings.Contains(m.Error.Message, need.Error()) {
		t.Fatalf("initialize: %d %s", resp.StatusCode, body)
	}
	if pu.Processes() != 0 || h.g.Sessions() != 0 {
		t.Fatalf("after a failed start: %d processes, %d sessions", pu.Processes(), h.g.Sessions())
	}

	x.setFail(nil)
	a := h.started("alice")
	x.setFail(need)
	x.clock.Armed()[0].Fire() // the renewal fails: the process keeps its token for now
	if got := envOf(t, a, tokenVar); got != "obo-alice-1" {
		t.Fatalf("before expiry: %s=%q", tokenVar, got)
	}
	x.clock.Advance(2 * time.Hour)
	if m := final(t, a.call("tools/call", toolCall("env", map[string]any{"name": tokenVar}))); !strings.Contains(string(m.Result), `"isError":true`) || !strings.Contains(textOf(t, m), need.Error()) {
		t.Errorf("tools/call after expiry: %+v %s", m.Error, m.Result)
	}
	if m := final(t, a.call("tools/list", nil)); m.Error == nil || m.Error.Code != CodeTokenUnavailable {
		t.Errorf("tools/list after expiry: %+v", m)
	}
	// Retries are spaced: within renewRetryEvery of the last failure the answer comes from it,
	// without an exchange.
	x.mu.Lock()
	before := len(x.force)
	x.mu.Unlock()
	x.setFail(nil)
	if m := final(t, a.call("tools/list", nil)); m.Error == nil || m.Error.Code != CodeTokenUnavailable {
		t.Errorf("tools/list right after a failed retry: %+v", m)
	}
	x.mu.Lock()
	if len(x.force) != before {
		t.Errorf("%d exchanges within the retry interval, want none", len(x.force)-before)
	}
	x.mu.Unlock()
	x.clock.Advance(renewRetryEvery)
	if got := envOf(t, a, tokenVar); got != "obo-alice-2" {
		t.Errorf("once the exchange works again: %s=%q", tokenVar, got)
	}
}

func TestRenewDelay(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		life, want time.Duration
	}{
		{time.Hour, 48 * time.Minute},        // 80% is sooner than 55m
		{90 * time.Minute, 72 * time.Minute}, // 80% of 90m
		{10 * time.Minute, 5 * time.Minute},  // 5 minutes before expiry is sooner than 8m
		{4 * time.Minute, 192 * time.Second}, // under the margin: 80%
		{10 * time.Second, minRenewDelay},    // never a tight loop
	} {
		if got := RenewDelay(now, now.Add(tc.life)); got != tc.want {
			t.Errorf("life %v: %v, want %v", tc.life, got, tc.want)
		}
	}
	if got := RenewDelay(now, time.Time{}); got != 0 {
		t.Errorf("no expiry: %v, want 0 (never)", got)
	}
}

func TestWithEnvReplacesByName(t *testing.T) {
	t.Parallel()
	got := withEnv([]string{"PATH=/bin", "UPSTREAM_TOKEN=passed-by-operator", "HOME=/h"}, []string{"UPSTREAM_TOKEN=obo"})
	want := "PATH=/bin HOME=/h UPSTREAM_TOKEN=obo"
	if strings.Join(got, " ") != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := withEnv(nil, nil); got == nil {
		t.Error("nil environment: the child would inherit the gateway's")
	}
}
