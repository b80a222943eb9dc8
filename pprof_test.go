//go:build pprof

package main

import "testing"

// TestCheckLoopback runs with `go test -tags pprof .`: pprof must never listen beyond loopback.
func TestCheckLoopback(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6060", true}, {"[::1]:6060", true}, {"localhost:0", true}, {"127.0.0.2:1", true},
		{":6060", false}, {"0.0.0.0:6060", false}, {"[::]:6060", false}, {"192.168.1.2:6060", false},
		{"example.com:6060", false}, {"127.0.0.1", false}, {"", false},
	} {
		if err := checkLoopback(tc.addr); (err == nil) != tc.ok {
			t.Errorf("checkLoopback(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}
