//go:build windows

package auth

import (
	"os"
	"syscall"
)

// noFollow is 0: Windows has no O_NOFOLLOW. The Lstat check before each open refuses a
// reparse point (a symbolic link or junction) instead.
const noFollow = 0

// isLinkError is false: without O_NOFOLLOW an open never fails for being a link.
func isLinkError(error) bool { return false }

// isLink reports whether fi (from os.Lstat) is a reparse point: a symbolic link, a junction or
// a mount point, each of which would redirect the open elsewhere.
// (FILE_ATTRIBUTE_REPARSE_POINT, https://learn.microsoft.com/windows/win32/fileio/reparse-points)
func isLink(fi os.FileInfo) bool {
	if fi.Mode()&(os.ModeSymlink|os.ModeIrregular) != 0 {
		return true
	}
	d, ok := fi.Sys().(*syscall.Win32FileAttributeData)
	return ok && d.FileAttributes&syscall.FILE_ATTRIBUTE_REPARSE_POINT != 0
}

// foreignOwner is false: Windows directories are protected by ACLs, not by an owner and mode
// bits; the user profile's cache directory is private by default.
func foreignOwner(os.FileInfo) bool { return false }
