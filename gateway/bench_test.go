package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// BenchmarkStdioCall is one tools/call through the gateway to a stdio child (the fake server,
// a separate process) and back, over real loopback HTTP, one call at a time. Besides ns/op it
// reports cpu-ns/op: the CPU time of this process (the gateway and the HTTP client; the child
// excluded) per call, which machine load skews less than wall time. Compare states by building
// test binaries of each and running them alternately (docs/performance.md, "Gateway").
func BenchmarkStdioCall(b *testing.B) {
	h := newHarness(b, nil)
	c := h.client("")
	c.initialize()
	// The body is read whole rather than through events, whose 1 MiB scanner buffer per call
	// would be most of what is measured.
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
		"params": toolCall("echo", map[string]any{"message": "hello, load"})})
	call := func() {
		resp := c.request(http.MethodPost, body)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !bytes.Contains(got, []byte(`"result"`)) {
			b.Fatalf("unexpected answer: %d %s %v", resp.StatusCode, got, err)
		}
	}
	for range 20 { // warm-up: connections and buffers
		call()
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := testenv.ProcessCPU()
	for range b.N {
		call()
	}
	b.ReportMetric(float64(testenv.ProcessCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}
