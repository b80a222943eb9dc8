//go:build !unix

package mcpserver

// processCPU is 0 where getrusage does not exist (Windows): the cpu-ns/op metric then reads 0.
func processCPU() int64 { return 0 }
