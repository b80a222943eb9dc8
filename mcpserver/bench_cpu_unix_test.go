//go:build unix

package mcpserver

import "syscall"

// processCPU is the user+system CPU time of this process in nanoseconds. On a shared
// machine it is a steadier figure than ns/op, which also counts the time spent waiting for a
// core that others hold.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
