package gateway

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/policy"
)

func TestAuditLogAndMetrics(t *testing.T) {
	t.Parallel()
	for _, withArgs := range []bool{false, true} {
		pol, err := policy.Parse([]byte(testPolicy))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		audit, err := OpenAuditLog(path, withArgs, func(err error) { t.Error(err) })
		if err != nil {
			t.Fatal(err)
		}
		m := NewMetrics()
		h := newHarness(t, func(c *Config) {
			c.Policy = func() *policy.Policy { return pol }
			c.OnEvent = func(e Event) { audit.Record(e); m.ObserveEvent(e) }
			c.OnSessions = m.SetSessions
		})
		b := h.client("bob")
		b.initialize()
		final(t, b.call("tools/call", toolCall("echo", map[string]any{"message": "secret-arg"})))
		final(t, b.call("tools/call", toolCall("secret", map[string]any{"message": "x"})))
		_ = audit.Close()

		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("audit file mode: %v %v", st.Mode(), err)
		}
		f, _ := os.Open(path)
		sc := bufio.NewScanner(f)
		var lines []map[string]any
		for sc.Scan() {
			var l map[string]any
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("not JSON: %q", sc.Text())
			}
			lines = append(lines, l)
		}
		f.Close()
		if len(lines) != 2 {
			t.Fatalf("%d lines: %v", len(lines), lines)
		}
		call, deny := lines[0], lines[1]
		var keys []string
		for k := range call {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		want := "azp,decision,duration_ms,event,oid,outcome,rule,tid,time,tool"
		if withArgs {
			want = "args," + want
		}
		if got := strings.Join(keys, ","); got != want {
			t.Errorf("keys %s, want %s", got, want)
		}
		if call["event"] != "call" || call["tool"] != "echo" || call["outcome"] != "ok" || call["decision"] != "allow" || call["rule"] != "1" || call["oid"] != "bob" {
			t.Errorf("call line %v", call)
		}
		if deny["event"] != "deny" || deny["tool"] != "secret" || deny["outcome"] != "denied" || deny["decision"] != "deny" || deny["rule"] != "0" {
			t.Errorf("deny line %v", deny)
		}
		raw, _ := os.ReadFile(path)
		if strings.Contains(string(raw), "secret-arg") != withArgs {
			t.Errorf("withArgs=%v, file %s", withArgs, raw)
		}

		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body, _ := io.ReadAll(rec.Body)
		for _, want := range []string{
			`fastmcp_auth_tool_calls_total{outcome="ok",tool="echo"} 1`,
			`fastmcp_auth_tool_calls_total{outcome="denied",tool="other"} 1`,
			`fastmcp_auth_tool_call_duration_seconds_count{tool="echo"} 1`,
			`fastmcp_auth_upstream_sessions 1`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	}
}
