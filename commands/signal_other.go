//go:build !unix

package commands

import "os"

// notifyHUP does nothing where there is no SIGHUP (Windows): restart to reload the policy.
func notifyHUP(chan<- os.Signal) {}
