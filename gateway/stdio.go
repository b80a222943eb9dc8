package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"time"
)

// Command is a stdio upstream: the MCP server program started once per session, speaking
// newline-delimited JSON-RPC on its stdin and stdout (MCP transports, "stdio").
type Command struct {
	// Path is the program (resolved with exec.LookPath by the caller) and Args its arguments.
	Path string
	Args []string
	// Env is the child's whole environment, "NAME=value" entries; see [ScrubbedEnv].
	Env []string
	// Dir is the working directory; empty for the gateway's own.
	Dir string
	// Grace is how long the child may take to exit after its stdin closes, and again after
	// SIGTERM, before it is killed; 0 means 2 seconds.
	Grace time.Duration
	// MaxLineLength bounds one message from the child; 0 means 16 MiB.
	MaxLineLength int
}

// baseEnv are the variables a child always gets from the gateway's environment: enough to
// find programs (PATH) and a home for caches (HOME); on Windows also those without which
// programs do not start at all (see env_windows.go).
var baseEnv = append([]string{"PATH", "HOME"}, platformEnv...)

// ScrubbedEnv returns the environment of a child: only the base variables and those named in
// pass, taken from environ ("NAME=value" entries, as os.Environ gives). Why scrubbed: the
// gateway's environment may hold its own secrets (a client secret, a token), which an
// upstream server from a package registry has no business reading.
func ScrubbedEnv(environ []string, pass []string) []string {
	want := map[string]bool{}
	for _, n := range append(append([]string{}, baseEnv...), pass...) {
		want[envKey(n)] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, ok := cut(kv)
		if ok && want[envKey(name)] {
			out = append(out, kv)
		}
	}
	return out
}

// withEnv returns base with the entries of extra added, each replacing any entry of the same
// name in base (two entries of one name would leave the child's pick to its C library). It is
// never nil: a nil Env would give the child the gateway's whole environment.
func withEnv(base, extra []string) []string {
	out := make([]string, 0, len(base)+len(extra))
	replaced := map[string]bool{}
	for _, kv := range extra {
		if name, _, ok := cut(kv); ok {
			replaced[envKey(name)] = true
		}
	}
	for _, kv := range base {
		if name, _, ok := cut(kv); ok && replaced[envKey(name)] {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// cut splits "NAME=value" at its first "=" after the first character; ok is false for an
// entry without one.
func cut(kv string) (string, string, bool) {
	for i := 1; i < len(kv); i++ { // from 1: Windows has variables named "=C:"
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return "", "", false
}

// Dial starts the program for one session; it is a [Dialer].
func (c Command) Dial(_ context.Context, info SessionInfo, recv func([]byte), exited func(error)) (Upstream, error) {
	// The command is the operator's own (serve -- COMMAND), resolved at start.
	cmd := exec.Command(c.Path, c.Args...) //nolint:gosec // G204: running it is the point
	cmd.Env = withEnv(c.Env, info.Env)
	cmd.Dir = c.Dir
	setProcAttrs(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	// os.Pipe rather than StdoutPipe: Wait then does not wait for our readers, and a
	// grandchild holding the pipe cannot keep the session alive after the child exits.
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		_ = outR.Close()
		_ = outW.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := startProcess(cmd); err != nil {
		for _, f := range []*os.File{outR, outW, errR, errW} {
			_ = f.Close()
		}
		return nil, fmt.Errorf("could not start %s: %w", c.Path, err)
	}
	// The child holds its own copies of the write ends; ours must go, or the readers would
	// never see end-of-file when the child exits.
	_ = outW.Close()
	_ = errW.Close()
	grace := c.Grace
	if grace <= 0 {
		grace = 2 * time.Second
	}
	maxLine := c.MaxLineLength
	if maxLine <= 0 {
		maxLine = 16 << 20
	}
	p := &process{cmd: cmd, stdin: &lineInput{w: stdin, closingErr: "the upstream is closing"}, grace: grace, logger: info.Logger, waited: make(chan struct{}), readDone: make(chan struct{})}
	// The path only: the arguments may name files or hosts the operator keeps private, and
	// the environment (tokens: --obo-token-env, --pass-env) is never logged.
	info.Logger.Info("upstream started", "pid", cmd.Process.Pid, "command", c.Path)
	go p.readStdout(outR, maxLine, recv)
	go p.readStderr(errR)
	go func() {
		p.waitErr = cmd.Wait()
		close(p.waited)
		// Whatever the child left running in its group goes with it.
		killTree(cmd, true)
		// Let the reader deliver what the child wrote before exiting.
		select {
		case <-p.readDone:
		case <-time.After(time.Second):
		}
		// An exit the gateway asked for (Close) is not news; only one of the child's own
		// ends the session.
		if !p.stdin.isClosing() && exited != nil {
			exited(describeExit(p.waitErr))
		}
	}()
	return p, nil
}

// describeExit turns a Wait error into what the client is told.
func describeExit(err error) error {
	var ee *exec.ExitError
	if err == nil {
		return errors.New("exit status 0")
	}
	if errors.As(err, &ee) {
		return errors.New(ee.String())
	}
	return err
}

// process is a running child.
type process struct {
	cmd      *exec.Cmd
	stdin    *lineInput
	grace    time.Duration
	logger   *slog.Logger
	waited   chan struct{}
	waitErr  error
	readDone chan struct{}
}

// Send writes one message and a newline to the child's stdin.
func (p *process) Send(msg []byte) error {
	return p.stdin.send(msg)
}

// Close stops the child the way the MCP stdio transport describes: close its stdin, wait,
// SIGTERM (its process group), wait, SIGKILL.
func (p *process) Close() error {
	if !p.stdin.close() {
		<-p.waited
		return nil
	}
	select {
	case <-p.waited:
		return nil
	case <-time.After(p.grace):
	}
	killTree(p.cmd, false)
	select {
	case <-p.waited:
		return nil
	case <-time.After(p.grace):
	}
	killTree(p.cmd, true)
	select {
	case <-p.waited:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("process %d did not exit after SIGKILL", p.cmd.Process.Pid)
	}
}

// readStdout delivers each line of the child's stdout.
func (p *process) readStdout(r *os.File, maxLine int, recv func([]byte)) {
	defer close(p.readDone)
	defer r.Close()
	sc := bufio.NewScanner(r)
	// A small first buffer, which the scanner doubles for a longer line (up to maxLine) and
	// keeps: most sessions never see a line near 64 KiB, and each session has its own reader
	// (issue 14: memory per session).
	sc.Buffer(make([]byte, 4<<10), maxLine)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		recv(append([]byte(nil), line...))
	}
	if err := sc.Err(); err != nil {
		p.logger.Warn("stopped reading the upstream's stdout: killing it", "err", err)
		// A line over the limit leaves the stream unusable: kill the child, so that its
		// session ends (with the exit reported) instead of waiting for answers forever.
		killTree(p.cmd, true)
	}
}

// readStderr copies the child's stderr to the log, one entry per line, tagged with the
// session (the logger's attribute).
func (p *process) readStderr(r *os.File) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<10), 1<<20) // grows as needed, as for stdout
	for sc.Scan() {
		p.logger.Info("upstream stderr", "line", sc.Text())
	}
}
