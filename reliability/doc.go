// Package reliability holds the evidence that fastmcp-auth keeps working under load, faults
// and hostile input, and that `serve --stateless` scales out behind a load balancer. It has
// no production code: its tests build the real binary and drive it (and, where the numbers
// have to come from inside the server, such as goroutine counts and heap, they run
// mcpserver.Handler in the test process).
//
// The test command runs the short versions. RELIABILITY_LONG=1 runs the long ones that
// produced the figures of docs/reliability.md (50 and 200 sessions for 60 s each, the
// shutdown timeout overrun, the key set slower than the verifier's own timeout):
//
//	RELIABILITY_LONG=1 go test -count=1 -timeout 30m -v ./reliability/
package reliability
