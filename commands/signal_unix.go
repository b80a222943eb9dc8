//go:build unix

package commands

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyHUP delivers SIGHUP (reload the policy) to c.
func notifyHUP(c chan<- os.Signal) { signal.Notify(c, syscall.SIGHUP) }
