package gateway

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/policy"
)

// recordingUpstream is a minimal Streamable HTTP MCP server answering with JSON that records
// the credentials each request carried.
type recordingUpstream struct {
	mu      sync.Mutex
	auth    []string
	apiKeys []string
	deleted bool
}

func (u *recordingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.auth = append(u.auth, r.Header.Get("Authorization"))
	u.apiKeys = append(u.apiKeys, r.Header.Get("X-Api-Key"))
	if r.Method == http.MethodDelete {
		u.deleted = true
	}
	u.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	case http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	_ = json.Unmarshal(body, &m)
	if len(m.ID) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	var result any = map[string]any{"tools": []any{map[string]any{"name": "remote-tool", "inputSchema": map[string]any{"type": "object"}}}}
	if m.Method == "initialize" {
		w.Header().Set("Mcp-Session-Id", "upstream-session")
		result = map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "serverInfo": map[string]any{"name": "remote", "version": "1"}}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": result})
}

func TestRemoteUpstreamNeverGetsTheCallersToken(t *testing.T) {
	t.Parallel()
	up := &recordingUpstream{}
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	g, err := New(Config{
		Dial:     Remote{URL: upSrv.URL, Headers: http.Header{"X-Api-Key": {"static-key"}}}.Dial,
		Identity: testIdentity,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(context.WithValue(r.Context(), userKey{}, users["alice"]))
		g.ServeHTTP(w, r)
	}))
	defer srv.Close()
	h := &harness{t: t, g: g, srv: srv, logs: &syncBuffer{}}
	c := &client{h: h}
	// The caller's own token: it must stay at the gateway.
	c.user = "alice"
	c.initialize()
	msgs := c.call("tools/list", map[string]any{})
	if !strings.Contains(string(final(t, msgs).Result), "remote-tool") {
		t.Fatalf("tools/list: %+v", msgs)
	}
	resp := c.request(http.MethodDelete, nil)
	resp.Body.Close()
	g.Close()
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.auth) < 3 {
		t.Fatalf("upstream saw %d requests", len(up.auth))
	}
	for i, a := range up.auth {
		if a != "" {
			t.Errorf("request %d carried Authorization %q upstream", i, a)
		}
		if up.apiKeys[i] != "static-key" {
			t.Errorf("request %d lacked the header file's X-Api-Key", i)
		}
	}
	if !up.deleted {
		t.Error("the upstream session was not ended with DELETE")
	}
}

func TestReadHeaderFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(p, mode)
		return p
	}
	good := write("good", "# upstream credentials\nAuthorization: Bearer upstream-secret\n\nX-Api-Key: k1\n", 0o600)
	h, err := ReadHeaderFile(good)
	if err != nil || h.Get("Authorization") != "Bearer upstream-secret" || h.Get("X-Api-Key") != "k1" {
		t.Fatalf("got %v, %v", h, err)
	}
	tests := []struct {
		name, body string
		mode       os.FileMode
		want       string
	}{
		{"readable by others", "A: b\n", 0o644, "chmod 600"},
		{"no colon", "just-a-value\n", 0o600, "line 1"},
		{"bad name", "Bad Name: v\n", 0o600, "line 1"},
		{"reserved", "Mcp-Session-Id: x\n", 0o600, "set by the gateway"},
	}
	for _, tt := range tests {
		_, err := ReadHeaderFile(write(tt.name, tt.body, tt.mode))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "upstream-secret") {
			t.Errorf("%s: the error quotes a value", tt.name)
		}
	}
}

func TestPassthroughKeepsTheCallersTokenAndAppliesThePolicy(t *testing.T) {
	t.Parallel()
	up := &recordingUpstream{}
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	pol, err := policy.Parse([]byte("rules:\n  - tools: [\"remote-*\"]\n    allow: \"'Admin' in claims.roles\"\n  - tools: [\"*\"]\n    allow: \"true\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	var denials int
	h, err := NewPassthrough(Passthrough{
		URL: upSrv.URL, Headers: http.Header{"X-Api-Key": {"static-key"}},
		Policy:   func() *policy.Policy { return pol },
		Identity: testIdentity,
		OnEvent: func(e Event) {
			if e.Event == "deny" {
				denials++
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(signedIn(h))
	defer srv.Close()
	hs := &harness{t: t, srv: srv, logs: &syncBuffer{}}
	for _, tc := range []struct {
		user   string
		listed bool
	}{{"alice", true}, {"bob", false}} {
		c := &client{h: hs, user: tc.user}
		resp := c.request(http.MethodPost, []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}`))
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if c.sid = resp.Header.Get(headerSessionID); c.sid != "upstream-session" {
			t.Fatalf("the upstream's session ID was not relayed: %q %s", c.sid, body)
		}
		resp = c.request(http.MethodPost, []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "remote-tool") != tc.listed {
			t.Errorf("%s: tools/list answer %s", tc.user, body)
		}
		resp = c.request(http.MethodPost, []byte(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"remote-tool"}}`))
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if !tc.listed && !strings.Contains(string(body), `"message":"Unknown tool: remote-tool"`) {
			t.Errorf("%s: denied call answered %s", tc.user, body)
		}
	}
	if denials != 1 {
		t.Errorf("%d denials recorded, want 1", denials)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	for i, a := range up.auth {
		if a != "" || up.apiKeys[i] != "static-key" {
			t.Errorf("upstream request %d: Authorization %q, X-Api-Key %q", i, a, up.apiKeys[i])
		}
	}
}
