//go:build unix

package gateway

import (
	"os/exec"
	"syscall"
)

// platformEnv adds nothing on Unix: PATH and HOME are enough to run a program.
var platformEnv []string

// setProcAttrs puts the child in its own process group, so that killTree reaches the
// grandchildren too (npx starts node, which may start more), and, on Linux, asks the kernel
// to SIGKILL it when the gateway dies, even by SIGKILL (setPdeathsig).
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setPdeathsig(cmd.SysProcAttr)
}

func startProcess(cmd *exec.Cmd) error { return startLocked(cmd) }

// killTree signals the child's process group: SIGTERM, or SIGKILL when kill is set.
func killTree(cmd *exec.Cmd, kill bool) {
	if cmd.Process == nil {
		return
	}
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	// The negative pid addresses the group the child leads (Setpgid).
	_ = syscall.Kill(-cmd.Process.Pid, sig)
}

// envKey: Unix variable names are case-sensitive.
func envKey(name string) string { return name }
