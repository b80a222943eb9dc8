//go:build windows

package gateway

import (
	"errors"
	"os"
)

// signalZero has no Windows equivalent of kill(pid, 0); the liveness checks that use it run
// on Unix, where the tests run. It reports "not known alive" so that the code compiles and
// vets for Windows.
func signalZero(*os.Process) error { return errors.New("signal 0 is not supported on windows") }
