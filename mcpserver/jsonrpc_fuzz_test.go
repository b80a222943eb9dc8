package mcpserver

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fuzzPublicURL is the public URL of the fuzzed handlers; requests use its host.
const fuzzPublicURL = "http://127.0.0.1:8000/mcp"

// jsonrpcFuzzer holds a stateless handler, a stateful one, and a session opened on the
// latter by a normal initialize, so that fuzzed messages reach the tool calls.
type jsonrpcFuzzer struct {
	stateless, stateful http.Handler
	session             string
}

func newJSONRPCFuzzer(f *testing.F) *jsonrpcFuzzer {
	fz := &jsonrpcFuzzer{}
	for _, stateless := range []bool{true, false} {
		// A short idle timeout: every initialize the fuzzer sends opens a session, and
		// they must not pile up over minutes of fuzzing.
		h, err := Handler(Config{Verifier: fakeVerify, RequiredScopes: []string{"execute"}, PublicURL: fuzzPublicURL,
			Stateless: stateless, SessionTimeout: 2 * time.Second})
		if err != nil {
			f.Fatal(err)
		}
		if stateless {
			fz.stateless = h
		} else {
			fz.stateful = h
		}
	}
	fz.initialize(f)
	return fz
}

// initialize opens the session the fuzzed messages are sent in (again when it timed out).
func (fz *jsonrpcFuzzer) initialize(tb testing.TB) {
	rec := fz.post(tb, fz.stateful, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"fuzz","version":"1"}}}`)
	fz.session = rec.Header().Get("Mcp-Session-Id")
	if rec.Code != http.StatusOK || fz.session == "" {
		tb.Fatalf("initialize: %d %s", rec.Code, rec.Body.String())
	}
	fz.post(tb, fz.stateful, fz.session, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
}

// post sends one MCP POST as a client would and waits for the whole answer, failing when the
// handler does not return within 10 s.
func (fz *jsonrpcFuzzer) post(tb testing.TB, h http.Handler, session, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, fuzzPublicURL, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tokAlice)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		tb.Fatalf("the handler did not answer within 10s: %.200q", body)
	}
	return rec
}

// FuzzJSONRPC posts arbitrary bodies to the MCP endpoint, as the only message of a stateless
// request, as the first message of a stateful one, and inside an initialized session (where
// tools/call runs reverse_tool, progress included). The server must never panic, hang or
// answer 5xx, and whatever it streams back must be well-formed JSON-RPC.
func FuzzJSONRPC(f *testing.F) {
	fz := newJSONRPCFuzzer(f)
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"héllo 👩‍👩‍👧"},"_meta":{"progressToken":"p"}}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"random_number_tool","arguments":{"min":5,"max":1}}}`,
		`{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":1e999}}}`,
		`{"jsonrpc":"2.0","id":4,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":null,"method":"ping"}`,
		`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}`,
		`[{"jsonrpc":"2.0","id":5,"method":"ping"},{"jsonrpc":"2.0","method":"x"}]`,
		`{"jsonrpc":"1.0","id":6,"method":"initialize","params":{"protocolVersion":"1999-01-01"}}`,
		`{"jsonrpc":"2.0","id":7,"result":{}}`,
		`{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"a","extra":{"deep":[[[[[[]]]]]]}}}}`,
		`{"jsonrpc":"2.0","id":9,"method":"logging/setLevel","params":{"level":"debug"}}`,
		`{"jsonrpc":"2.0","id":10,"method":"resources/read","params":{"uri":"file:///etc/passwd"}}`,
		`{`, ``, `null`, `"\ud800"`,
	} {
		for mode := uint8(0); mode < 3; mode++ {
			f.Add(mode, s)
		}
	}
	f.Fuzz(func(t *testing.T, mode uint8, body string) {
		var rec *httptest.ResponseRecorder
		switch mode % 3 {
		case 0:
			rec = fz.post(t, fz.stateless, "", body)
		case 1:
			rec = fz.post(t, fz.stateful, "", body)
		default:
			if rec = fz.post(t, fz.stateful, fz.session, body); rec.Code == http.StatusNotFound {
				fz.initialize(t) // the session timed out between two inputs
				rec = fz.post(t, fz.stateful, fz.session, body)
			}
		}
		if rec.Code >= 500 {
			t.Fatalf("status %d for %.200q: %.200s", rec.Code, body, rec.Body.String())
		}
		out := rec.Body.String()
		if strings.Contains(out, tokAlice) {
			t.Fatal("the answer echoes the bearer token")
		}
		if rec.Code != http.StatusOK {
			return
		}
		switch ct := rec.Header().Get("Content-Type"); {
		case strings.HasPrefix(ct, "text/event-stream"):
			sc := bufio.NewScanner(strings.NewReader(out))
			sc.Buffer(make([]byte, 1<<20), 4<<20)
			for sc.Scan() {
				if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
					checkJSONRPC(t, data)
				}
			}
		case strings.HasPrefix(ct, "application/json"):
			checkJSONRPC(t, out)
		}
	})
}

// checkJSONRPC fails unless msg is a JSON-RPC 2.0 message (or a batch of them).
func checkJSONRPC(t *testing.T, msg string) {
	t.Helper()
	var one struct {
		Version string `json:"jsonrpc"`
	}
	if err := json.Unmarshal([]byte(msg), &one); err == nil {
		if one.Version != "2.0" {
			t.Fatalf("not JSON-RPC 2.0: %.200s", msg)
		}
		return
	}
	var batch []json.RawMessage
	if err := json.Unmarshal([]byte(msg), &batch); err != nil {
		t.Fatalf("not JSON: %v: %.200s", err, msg)
	}
	for _, m := range batch {
		checkJSONRPC(t, string(m))
	}
}
