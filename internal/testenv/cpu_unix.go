//go:build unix

package testenv

import "syscall"

// ProcessCPU is the user+system CPU time of this process in nanoseconds, for benchmarks that
// report CPU per operation (cpu-ns/op). On a shared machine it is a steadier figure than
// ns/op, which also counts the time spent waiting for a core that others hold.
func ProcessCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
