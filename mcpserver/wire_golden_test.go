package mcpserver

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestWireGolden records the bytes the MCP endpoint answers to tools/list and to calls of both
// tools (valid, invalid and failing arguments, with and without a progress token), so that a
// change in how the tools are registered or how JSON is decoded cannot alter the wire output
// unnoticed. Refresh with -update, and review the diff.
func TestWireGolden(t *testing.T) {
	t.Parallel()
	h, err := Handler(Config{NoAuth: true, PublicURL: "http://127.0.0.1:8000/mcp", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	sid := benchInitialize(t, h, "")
	long := strings.Repeat("a", MaxQuery+1)
	calls := []string{
		`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"hello, wire"},"_meta":{"progressToken":"p1"}}}`,
		`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"e\u0301🇫🇷👩‍👩‍👧 <&> \u2028 \"q\""},"_meta":{"progressToken":7}}}`,
		`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":""}}}`,
		`{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"txt":"x"}}}`,
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"x","extra":1}}}`,
		`{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":5}}}`,
		`{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"Query":"x"}}}`,
		`{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"reverse_tool"}}`,
		`{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"reverse_tool","arguments":null}}`,
		`{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"reverse_tool","arguments":[1]}}`,
		`{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":null}}}`,
		`{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"a","query":"bc"}}}`,
		`{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"\ud800x\udc00"}}}`,
		`{"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"` + long + `"}}}`,
		`{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"random_number_tool","arguments":{"min":4,"max":4}}}`,
		`{"jsonrpc":"2.0","id":18,"method":"tools/call","params":{"name":"random_number_tool","arguments":{"min":5,"max":4}}}`,
		`{"jsonrpc":"2.0","id":19,"method":"tools/call","params":{"name":"no_such_tool","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"x"}}} trailing`,
		"  \n" + `{"jsonrpc":"2.0","id":22,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"ab` + "\xff\xfe" + `c\u0301"}}}` + "\n",
		`{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"x"},"_meta":{"progressToken":null}}}`,
		`{"jsonrpc":"2.0","id":21,"method":"tools/call","params":{"name":"reverse_tool","arguments":{"query":"x"}`,
	}
	var got strings.Builder
	for _, body := range calls {
		rec := benchPost(h, "", sid, body)
		shown := body
		if len(shown) > 300 {
			shown = shown[:300] + fmt.Sprintf("... (%d bytes)", len(body))
		}
		respBody, _ := io.ReadAll(rec.Result().Body)
		resp := string(respBody)
		if len(resp) > 6000 {
			resp = resp[:6000] + fmt.Sprintf("... (%d bytes)", len(respBody))
		}
		fmt.Fprintf(&got, "==> %s\n<== %d %s\n%s\n", shown, rec.Code, rec.Header().Get("Content-Type"), resp)
	}
	out := sessionIDs.ReplaceAllString(got.String(), "SESSION")
	testenv.Golden(t, "wire.golden", out, *update)
}

// sessionIDs matches the random session IDs that may appear in event IDs.
var sessionIDs = regexp.MustCompile(`[A-Z2-7]{26}`)
