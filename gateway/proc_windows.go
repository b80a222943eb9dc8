//go:build windows

package gateway

import (
	"os/exec"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// platformEnv are the variables without which Windows programs (node among them) fail to
// start: the system root, temporary folders, the user's profile folders, and how commands are
// found and run.
var platformEnv = []string{"SystemRoot", "SystemDrive", "TEMP", "TMP", "USERPROFILE", "APPDATA", "LOCALAPPDATA", "PATHEXT", "ComSpec", "windir"}

// jobs maps a child to its job object.
var jobs sync.Map // *exec.Cmd -> windows.Handle

// setProcAttrs does nothing before start on Windows: the job object is attached once the
// process exists.
func setProcAttrs(*exec.Cmd) {}

// startProcess starts cmd and puts it in a job object that kills every process in it when
// its last handle closes, which happens when the gateway exits, however it exits: the
// Windows counterpart of a process group plus a parent-death signal.
// https://learn.microsoft.com/windows/win32/procthread/job-objects
func startProcess(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return nil // the child runs; killTree falls back to killing it alone
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE},
	}
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		_ = windows.CloseHandle(job)
		return nil
	}
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, uint32(cmd.Process.Pid))
	if err != nil {
		_ = windows.CloseHandle(job)
		return nil
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		_ = windows.CloseHandle(job)
		return nil
	}
	jobs.Store(cmd, job)
	return nil
}

// killTree ends the child and everything it started: the job when it has one, else the
// process. Windows has no SIGTERM for console programs started this way, so both steps kill.
func killTree(cmd *exec.Cmd, _ bool) {
	if v, ok := jobs.LoadAndDelete(cmd); ok {
		job := v.(windows.Handle)
		_ = windows.TerminateJobObject(job, 1)
		_ = windows.CloseHandle(job)
		return
	}
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}

// envKey: Windows variable names are case-insensitive ("Path" is PATH).
func envKey(name string) string { return strings.ToUpper(name) }
