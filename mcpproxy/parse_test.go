package mcpproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestUnreadableLines: a line that is not JSON (or is cut short) gets the JSON-RPC -32700
// parse error, and valid JSON that is not a request -32600 invalid request; both with a null
// id, and nothing is sent upstream (the server here does not exist).
func TestUnreadableLines(t *testing.T) {
	t.Parallel()
	stdin := strings.NewReader("this is not json\n{\"broken\": \n\"a string\"\n{\"jsonrpc\":\"2.0\"}\n[1,\n")
	var stdout bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Run(ctx, Config{Server: "http://127.0.0.1:1/mcp"}, stdin, &stdout); err != nil {
		t.Fatalf("Run: %v", err)
	}
	var got []int
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var msg struct {
			ID    json.RawMessage `json:"id"`
			Error struct {
				Code int `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &msg); err != nil || string(msg.ID) != "null" {
			t.Fatalf("stdout line %q: %v; want a JSON-RPC error with id null", line, err)
		}
		got = append(got, msg.Error.Code)
	}
	if diff := cmp.Diff([]int{-32700, -32700, -32600, -32600, -32700}, got); diff != "" {
		t.Errorf("error codes (-want +got):\n%s", diff)
	}
}
