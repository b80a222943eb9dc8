//go:build windows

package gateway

import (
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// platformEnv are the variables without which Windows programs (node among them) fail to
// start: the system root, temporary folders, the user's profile folders, and how commands are
// found and run.
var platformEnv = []string{"SystemRoot", "SystemDrive", "TEMP", "TMP", "USERPROFILE", "APPDATA", "LOCALAPPDATA", "PATHEXT", "ComSpec", "windir"}

// jobs maps a child to its job object.
var jobs sync.Map // *exec.Cmd -> windows.Handle

// setProcAttrs starts the child suspended: it runs no instruction, so starts no grandchild,
// before startProcess has put it in its job object. A child resumed first could start a
// process (node's workers, a shell's commands) that escaped the job and outlived us.
func setProcAttrs(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.CreationFlags |= windows.CREATE_SUSPENDED
}

// startProcess starts cmd (suspended, see setProcAttrs), puts it in a job object that kills
// every process in it when its last handle closes, which happens when the gateway exits,
// however it exits (the Windows counterpart of a process group plus a parent-death signal),
// then lets it run. Whatever fails in between, the child is resumed: a child without a job
// still ends with its session (killTree), as before jobs existed.
// https://learn.microsoft.com/windows/win32/procthread/job-objects
// https://learn.microsoft.com/windows/win32/procthread/process-creation-flags (CREATE_SUSPENDED)
func startProcess(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := uint32(cmd.Process.Pid)
	defer resumeThreads(pid)
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
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, pid)
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

// resumeThreads resumes the threads of process pid: a process created suspended has one, its
// main thread. os/exec does not expose the thread handle CreateProcess returned, so the thread
// is found in a snapshot (the documented alternative to ntdll's NtResumeProcess).
// https://learn.microsoft.com/windows/win32/api/tlhelp32/nf-tlhelp32-createtoolhelp32snapshot
func resumeThreads(pid uint32) {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return
	}
	defer windows.CloseHandle(snap)
	var te windows.ThreadEntry32
	te.Size = uint32(unsafe.Sizeof(te))
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID != pid {
			continue
		}
		th, err := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, te.ThreadID)
		if err != nil {
			continue
		}
		_, _ = windows.ResumeThread(th)
		_ = windows.CloseHandle(th)
	}
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
