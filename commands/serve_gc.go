package commands

import "runtime/debug"

// serveGCPercent is the garbage collector's target of serve (GOGC) when the environment sets
// neither GOGC nor GOMEMLIMIT. The Go default, 100, lets the heap grow to twice what is live
// before a collection; 50 holds it to one and a half times. With 200 sessions open, where
// goroutine stacks and per-connection buffers make most of the live memory, that took serve's
// peak RSS from about 42 to 36 MiB (docs/performance.md, "Memory"), for a few percent more
// CPU per call: since the go-sdk decoding patch a call allocates about 40 KB, not 330 KB, so
// collections are rare either way. A proportional target, unlike a fixed memory limit, cannot
// make a server with many more sessions collect without pause.
const serveGCPercent = 50

// tuneServeGC applies serveGCPercent unless the operator chose a GC setting through the
// environment, and reports whether it did.
func tuneServeGC(getenv func(string) string) bool {
	if getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return false
	}
	debug.SetGCPercent(serveGCPercent)
	return true
}
