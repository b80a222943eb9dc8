package commands

import (
	"runtime/debug"
	"testing"
)

// TestTuneServeGC checks that serve lowers the GC target only when the operator set no GC
// variable. Not parallel: the GC target is process-wide.
func TestTuneServeGC(t *testing.T) { //nolint:paralleltest // changes a process-wide setting
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })
	for _, tc := range []struct {
		name    string
		env     map[string]string
		applied bool
		want    int
	}{
		{name: "no GC variable", env: map[string]string{}, applied: true, want: serveGCPercent},
		{name: "GOGC set", env: map[string]string{"GOGC": "200"}, applied: false, want: 100},
		{name: "GOMEMLIMIT set", env: map[string]string{"GOMEMLIMIT": "64MiB"}, applied: false, want: 100},
	} {
		debug.SetGCPercent(100)
		applied := tuneServeGC(func(k string) string { return tc.env[k] })
		if got := debug.SetGCPercent(100); applied != tc.applied || got != tc.want {
			t.Errorf("%s: applied %v, GC percent %d; want %v, %d", tc.name, applied, got, tc.applied, tc.want)
		}
	}
}
