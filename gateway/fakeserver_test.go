package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// fakeServerEnv makes the test binary a stdio MCP server (see TestMain): a child the tests can
// start without node, whose every behaviour the tests choose.
const fakeServerEnv = "GATEWAY_TEST_FAKE_SERVER"

// runFakeServer is a minimal stdio MCP server: initialize, tools (echo with progress, env,
// pid, crash, sample, slow), prompts and resources lists, and the TypeScript SDK's answer
// for an unknown tool.
func runFakeServer() {
	out := json.NewEncoder(os.Stdout)
	var mu sync.Mutex
	send := func(v any) {
		mu.Lock()
		defer mu.Unlock()
		_ = out.Encode(v)
	}
	result := func(id json.RawMessage, r any) { send(map[string]any{"jsonrpc": "2.0", "id": id, "result": r}) }
	text := func(s string) map[string]any {
		return map[string]any{"content": []any{map[string]any{"type": "text", "text": s}}}
	}
	waiting := map[string]chan json.RawMessage{} // server request id -> client answer
	cancelled := map[string]chan struct{}{}      // request id -> cancelled
	var initParams json.RawMessage               // what initialize brought, for the init tool
	var subs, level []string                     // subscribed URIs and log levels set, for the state tool
	fmt.Fprintln(os.Stderr, "fake server ready")
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				Name      string          `json:"name"`
				URI       string          `json:"uri"`
				Level     string          `json:"level"`
				Arguments map[string]any  `json:"arguments"`
				RequestID json.RawMessage `json:"requestId"`
				Meta      struct {
					ProgressToken json.RawMessage `json:"progressToken"`
				} `json:"_meta"`
			} `json:"params"`
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		if m.Method == "" {
			mu.Lock()
			ch := waiting[string(m.ID)]
			mu.Unlock()
			if ch != nil {
				ch <- m.Result
			}
			continue
		}
		switch m.Method {
		case "initialize":
			var raw struct {
				Params json.RawMessage `json:"params"`
			}
			_ = json.Unmarshal(sc.Bytes(), &raw)
			initParams = raw.Params
			result(m.ID, map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{"tools": map[string]any{}}, "serverInfo": map[string]any{"name": "fake", "version": "1"}})
		case "notifications/cancelled":
			mu.Lock()
			if ch := cancelled[string(m.Params.RequestID)]; ch != nil {
				close(ch)
				delete(cancelled, string(m.Params.RequestID))
			}
			mu.Unlock()
		case "resources/subscribe":
			subs = append(subs, m.Params.URI)
			result(m.ID, map[string]any{})
		case "logging/setLevel":
			level = append(level, m.Params.Level)
			result(m.ID, map[string]any{})
		case "tools/list":
			var tools []any
			for _, n := range []string{"echo", "env", "pid", "crash", "sample", "slow", "secret"} {
				tools = append(tools, map[string]any{"name": n, "inputSchema": map[string]any{"type": "object"}})
			}
			result(m.ID, map[string]any{"tools": tools})
		case "prompts/list":
			result(m.ID, map[string]any{"prompts": []any{map[string]any{"name": "public-prompt"}, map[string]any{"name": "private-prompt"}}})
		case "resources/list":
			result(m.ID, map[string]any{"resources": []any{map[string]any{"uri": "mem://public/a", "name": "a"}, map[string]any{"uri": "mem://private/b", "name": "b"}}})
		case "tools/call":
			id := m.ID
			switch m.Params.Name {
			case "echo", "secret":
				if tok := m.Params.Meta.ProgressToken; len(tok) > 0 {
					for i := 1; i <= 3; i++ {
						send(map[string]any{"jsonrpc": "2.0", "method": "notifications/progress", "params": map[string]any{"progressToken": tok, "progress": i, "total": 3}})
					}
				}
				result(id, text(fmt.Sprint(m.Params.Arguments["message"])))
			case "env":
				result(id, text(os.Getenv(fmt.Sprint(m.Params.Arguments["name"]))))
			case "state":
				result(id, text(fmt.Sprintf("subs=%v level=%v", subs, level)))
			case "init":
				result(id, text(string(initParams)))
			case "notify":
				// A notification no call owns (as a list change is), then the answer.
				send(map[string]any{"jsonrpc": "2.0", "method": "notifications/resources/list_changed"})
				result(id, text("notified"))
			case "pid":
				result(id, text(fmt.Sprint(os.Getpid())))
			case "crash":
				fmt.Fprintln(os.Stderr, "crashing on purpose")
				os.Exit(3)
			case "sample":
				ch := make(chan json.RawMessage, 1)
				sid := fmt.Sprintf(`"s-%s"`, strings.Trim(string(id), `"`))
				mu.Lock()
				waiting[sid] = ch
				mu.Unlock()
				send(map[string]any{"jsonrpc": "2.0", "id": json.RawMessage(sid), "method": "sampling/createMessage", "params": map[string]any{"messages": []any{}, "maxTokens": 5}})
				go func() {
					select {
					case r := <-ch:
						result(id, text("sampled: "+string(r)))
					case <-time.After(10 * time.Second):
						result(id, text("no sampling answer"))
					}
				}()
			case "slow":
				ch := make(chan struct{})
				mu.Lock()
				cancelled[string(id)] = ch
				mu.Unlock()
				go func() {
					select {
					case <-ch:
						fmt.Fprintln(os.Stderr, "slow cancelled")
					case <-time.After(10 * time.Second):
						result(id, text("slow done"))
					}
				}()
			default:
				// What the TypeScript SDK's McpServer answers for a tool it lacks.
				result(id, map[string]any{"isError": true, "content": []any{map[string]any{"type": "text", "text": "MCP error -32602: Tool " + m.Params.Name + " not found"}}})
			}
		default:
			if len(m.ID) > 0 {
				send(map[string]any{"jsonrpc": "2.0", "id": m.ID, "error": map[string]any{"code": -32601, "message": "Method not found"}})
			}
		}
	}
}
