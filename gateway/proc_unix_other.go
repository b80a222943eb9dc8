//go:build unix && !linux

package gateway

import (
	"os/exec"
	"syscall"
)

// setPdeathsig does nothing outside Linux: macOS and the BSDs have no parent-death signal.
// There the children are killed (with their process group) when the gateway shuts down or
// ends their session, but a SIGKILL of the gateway leaves them running until they read the
// end of their stdin, which well-behaved MCP servers treat as the end of the session.
func setPdeathsig(*syscall.SysProcAttr) {}

func startLocked(cmd *exec.Cmd) error { return cmd.Start() }
