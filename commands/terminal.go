package commands

import (
	"io"
	"os"

	"golang.org/x/term"
)

// promptsOnTerminal reports whether w is a terminal a person watches (where a device code can
// be read and a progress bar makes sense): the *os.File behind it is a terminal, or w says so
// itself (tests).
func promptsOnTerminal(w io.Writer) bool {
	if t, ok := w.(interface{ IsTerminal() bool }); ok {
		return t.IsTerminal()
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
