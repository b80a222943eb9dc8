package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func sharedHarness(t *testing.T) *harness {
	t.Helper()
	var sh *Shared
	h := newHarness(t, func(c *Config) {
		sh = NewShared(c.Dial, c.Logger)
		c.Dial = sh.Dial
	})
	t.Cleanup(func() { _ = sh.Close() })
	return h
}

func TestSharedUpstreamOneProcessRewrittenIDs(t *testing.T) {
	t.Parallel()
	h := sharedHarness(t)
	a, b := h.started("alice"), h.started("bob")
	if pa, pb := childPID(t, a), childPID(t, b); pa != pb {
		t.Fatalf("two processes (%d, %d) with --shared-upstream", pa, pb)
	}
	// Both sessions use the same request ids and the same progress token at once: each must
	// get its own answer and its own three progress notifications.
	var wg sync.WaitGroup
	results := map[string][]rpcMsg{}
	var mu sync.Mutex
	for _, c := range []*client{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 42, "method": "tools/call",
				"params": map[string]any{"name": "echo", "arguments": map[string]any{"message": "from " + c.user}, "_meta": map[string]any{"progressToken": 7}}})
			resp := c.request(http.MethodPost, body)
			defer resp.Body.Close()
			msgs := events(t, resp, nil)
			mu.Lock()
			results[c.user] = msgs
			mu.Unlock()
		}()
	}
	wg.Wait()
	for user, msgs := range results {
		if len(msgs) != 4 {
			t.Errorf("%s: %d messages, want 3 progress and the answer: %+v", user, len(msgs), msgs)
			continue
		}
		for _, m := range msgs[:3] {
			if !strings.Contains(string(m.Params), `"progressToken":7`) {
				t.Errorf("%s: progress token not restored: %s", user, m.Params)
			}
		}
		last := final(t, msgs)
		if string(last.ID) != "42" || textOf(t, last) != "from "+user {
			t.Errorf("%s: answer id %s text %q", user, last.ID, textOf(t, last))
		}
	}
}

func TestSharedUpstreamRoutesServerRequestsToTheCaller(t *testing.T) {
	t.Parallel()
	h := sharedHarness(t)
	h.started("alice") // a session with no call in flight: not the one to ask
	b := h.started("bob")
	if answered, msgs := callSample(t, b, "bob's answer"); !answered || !strings.Contains(textOf(t, final(t, msgs)), "bob's answer") {
		t.Fatalf("sampling did not reach the calling session: %+v", msgs)
	}
}

// callSample calls the fake server's sample tool as c and answers the sampling request, if it
// reaches c, with text. It reports whether it did, and returns the call's messages.
func callSample(t *testing.T, c *client, text string) (bool, []rpcMsg) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "c1", "method": "tools/call", "params": toolCall("sample", nil)})
	var answered bool
	resp := c.request(http.MethodPost, body)
	defer resp.Body.Close()
	msgs := events(t, resp, func(m rpcMsg) {
		if m.Method == "sampling/createMessage" {
			ans, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": map[string]any{"model": "m", "role": "assistant", "content": map[string]any{"type": "text", "text": text}}})
			r := c.request(http.MethodPost, ans)
			r.Body.Close()
			answered = true
		}
	})
	return answered, msgs
}

func TestSharedUpstreamCrashEndsEverySession(t *testing.T) {
	t.Parallel()
	h := sharedHarness(t)
	a, b := h.started("alice"), h.started("bob")
	if m := final(t, a.call("tools/call", toolCall("crash", nil))); m.Error == nil || m.Error.Code != CodeUpstreamEnded {
		t.Fatalf("crash answer %+v", m)
	}
	// The sessions end one after the other once the exit is seen; alice's answer may come
	// before bob's session has ended.
	for deadline := time.Now().Add(10 * time.Second); h.g.Sessions() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions left after the shared process crashed", h.g.Sessions())
		}
	}
	for _, c := range []*client{a, b} {
		resp := c.request(http.MethodPost, []byte(`{"jsonrpc":"2.0","id":9,"method":"tools/list"}`))
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s after the crash: %d", c.user, resp.StatusCode)
		}
	}
	// A new session starts a new shared process.
	c := h.started("alice")
	if got := textOf(t, final(t, c.call("tools/call", toolCall("echo", map[string]any{"message": "again"})))); got != "again" {
		t.Errorf("after restart: %q", got)
	}
}
