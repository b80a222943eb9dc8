//go:build linux

package gateway

import (
	"os/exec"
	"runtime"
	"syscall"
)

// setPdeathsig makes the kernel SIGKILL the child when the thread that started it dies
// (prctl PR_SET_PDEATHSIG, see startLocked), so even a SIGKILL of the gateway, which runs no
// cleanup, leaves no orphan. Grandchildren are reached only by the group kill of a normal
// shutdown: a child that double-forks out of its group escapes, as on every Unix.
func setPdeathsig(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }

// startLocked starts cmd on a thread locked for the call. Pdeathsig fires when the *thread*
// that forked exits, not the process; Go keeps threads alive unless a goroutine exits while
// locked to one, which this one does not (it unlocks), so the thread lives as long as the
// gateway.
func startLocked(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	return cmd.Start()
}
