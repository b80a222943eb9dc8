//go:build unix

package auth

import (
	"errors"
	"os"
	"syscall"
)

// noFollow makes open fail on a symbolic link as the last path component (ELOOP), which
// closes the window between the Lstat check and the open.
const noFollow = syscall.O_NOFOLLOW

// isLinkError reports whether an open with noFollow failed because the path is a link.
func isLinkError(err error) bool { return errors.Is(err, syscall.ELOOP) }

// isLink reports whether fi (from os.Lstat) is a symbolic link.
func isLink(fi os.FileInfo) bool { return fi.Mode()&os.ModeSymlink != 0 }

// foreignOwner reports whether fi (a directory) belongs to another user than the running one.
func foreignOwner(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) != os.Getuid()
}
