//go:build !unix

package testenv

// ProcessCPU is 0 where getrusage does not exist (Windows): a cpu-ns/op metric then reads 0.
func ProcessCPU() int64 { return 0 }
