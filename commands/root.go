// Package commands wires the fastmcp-auth command line (urfave/cli v2): flags, environment
// variables, the .env file and exit codes. It holds no protocol logic: each Action validates
// its flags, builds the typed config of a package below it and calls one function.
package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/internal/clienv"
)

// Exit codes promised by ../shared/CLI.md ("Exit codes"). Scripts and CI jobs branch on them,
// so each code stands for one remedy rather than for the place the error came from.
const (
	// ExitOK is success.
	ExitOK = 0
	// ExitFailure is any other failure, a tool result with isError included: the command
	// ran, and neither a flag, a sign-in nor the network explains what went wrong.
	ExitFailure = 1
	// ExitUsage is an unknown flag, a bad argument or a missing setting: the remedy is to fix
	// the command line or the environment, and the message names what to fix.
	ExitUsage = 2
	// ExitAuth is not signed in, a failed or cancelled sign-in, a 401 or a 403: the remedy
	// is to run fastmcp-auth login (or get the scope), which a script cannot do unattended.
	ExitAuth = 3
	// ExitUnreachable is a server or authority that cannot be reached: the command line may
	// be right and a retry may work, so scripts can tell it from a rejection.
	ExitUnreachable = 4
	// ExitInterrupted is 128+SIGINT, what shells report for a command stopped by Ctrl-C.
	ExitInterrupted = 130
)

// envPrefix starts every environment variable that sets a flag.
const envPrefix = "FASTMCP_AUTH_"

// Version is the version printed by --version; set with -ldflags at release time.
var Version = "dev"

// exitError carries the exit code an error must produce. It has no ExitCode method on
// purpose: urfave/cli calls os.Exit itself on an error implementing cli.ExitCoder, and only
// main may end the process (Run returns the code instead, so tests can run the CLI).
type exitError struct {
	code int
	err  error
}

// Error is the wrapped error's message; the code never shows in the text.
func (e *exitError) Error() string { return e.err.Error() }

// Unwrap lets errors.Is and errors.As see the cause (auth.ErrNotSignedIn, context.Canceled).
func (e *exitError) Unwrap() error { return e.err }

// withCode attaches an exit code to err (nil stays nil).
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageErrorf is a usage error (exit 2); the message names the flag or argument at fault.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// ExitCode returns the exit code err stands for: 0 for nil, the attached code, else 1.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitFailure
}

// envVar names the environment variable of a flag: FASTMCP_AUTH_<NAME>.
func envVar(flag string) []string {
	return []string{envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// NewApp builds the command-line application writing to stdout and stderr, so that tests can
// run it with buffers.
func NewApp(stdout, stderr io.Writer) *cli.App {
	// Writer and ErrWriter are the only outputs: results on stdout, everything else
	// (prompts, progress, logs, errors) on stderr, so `TOKEN=$(fastmcp-auth token)` and
	// `fastmcp-auth tools --json | jq` get nothing but the result.
	app := &cli.App{
		Name:                 "fastmcp-auth",
		Usage:                "secure MCP servers with Entra ID bearer tokens, and call them",
		Version:              Version,
		Writer:               stdout,
		ErrWriter:            stderr,
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		Flags:                []cli.Flag{envFileFlag()},
		Commands:             commandList(),
	}
	app.OnUsageError = onUsageError
	// urfave consults the command's own OnUsageError, not the App's, when a subcommand's
	// flags fail to parse: set it on each so every usage error is exit 2.
	for _, c := range app.Commands {
		if c.OnUsageError == nil {
			c.OnUsageError = onUsageError
		}
		rejectArgs(c)
	}
	return app
}

// takesArgs names the commands that read positional arguments (or check them themselves).
var takesArgs = map[string]bool{"call": true, "tools": true, "proxy": true, "serve": true}

// rejectArgs makes a command that takes no positional argument refuse one with exit 2. The
// flag parser stops at the first positional argument, so without this `whoami extra --json`
// or `dev-authority extra --help` would silently drop the flags after it and run anyway.
func rejectArgs(c *cli.Command) {
	if takesArgs[c.Name] || c.Action == nil {
		return
	}
	action := c.Action
	c.Action = func(ctx *cli.Context) error {
		if ctx.NArg() > 0 {
			return extraArgError(c.Name, ctx.Args().First())
		}
		return action(ctx)
	}
}

// extraArgError is the usage error of a positional argument given to a command that takes
// none: rejectArgs's, and tools' and proxy's own (they parse their arguments themselves).
func extraArgError(command, arg string) error {
	return usageErrorf("%s takes no arguments, got %q: remove it (see fastmcp-auth %s --help)", command, arg, command)
}

// commandList is every subcommand, in the order --help lists them; each lives in its own
// file. The constructors run afresh for each App: a *cli.Command and its flags keep parse
// state, so one shared between Apps (parallel tests, or one process running several command
// lines) would be a data race.
func commandList() []*cli.Command {
	return []*cli.Command{
		newCallCommand(),
		newDemoCommand(),
		newDevAuthorityCommand(),
		newLoginCommand(),
		newLogoutCommand(),
		newPolicyCommand(),
		newProxyCommand(),
		newServeCommand(),
		newTokenCommand(),
		newToolsCommand(),
		newWhoamiCommand(),
	}
}

// Run runs the command line and returns the process exit code. Errors are printed as one
// line "error: ..." on stderr.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	// The .env file is applied before the App exists: urfave reads EnvVars while it parses
	// the flags, so the variables must already be in the environment by then.
	if err := clienv.LoadDotEnv(args, flagEnvFile, envVar(flagEnvFile)[0]); err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return ExitUsage
	}
	app := NewApp(stdout, stderr)
	// urfave reports an unknown command through CommandNotFound and then returns no error.
	// Without the hook it returns its own cli.Exit error with code 3, our "sign in" code, and
	// exits the process itself; with it Run can answer exit 2 with a hint.
	unknown := ""
	app.CommandNotFound = func(_ *cli.Context, name string) { unknown = name }
	err := app.RunContext(withRawArgs(ctx, args), args)
	if unknown != "" {
		fmt.Fprintf(stderr, "error: unknown command %q: run fastmcp-auth --help for the list\n", unknown)
		return ExitUsage
	}
	if err == nil {
		if interruptedByCtrlC(ctx) {
			// A server stopped by Ctrl-C after finishing its calls did its job, so nothing is
			// printed, but CLI.md's table gives 130 to "interrupted" and scripts and shells
			// tell a Ctrl-C from a completed run by it.
			return ExitInterrupted
		}
		return ExitOK
	}
	code := ExitCode(err)
	// main cancels ctx on SIGINT or SIGTERM. What fails then fails because of the signal,
	// whatever the error says (a closed connection, a cancelled request), so it is reported
	// as 130 with a plain "interrupted" rather than the misleading cause. A specific code
	// (3, 4) set before the interruption is kept unless the error is the cancellation itself.
	if ctx.Err() != nil && (code == ExitFailure || errors.Is(err, context.Canceled)) {
		code = ExitInterrupted
	}
	msg := err.Error()
	if code == ExitInterrupted {
		msg = "interrupted"
	}
	fmt.Fprintf(stderr, "error: %s\n", oneLine(msg))
	return code
}

// interruptedByCtrlC reports whether ctx was ended by SIGINT. main's signal.NotifyContext
// cancels it with a cause naming the signal ("interrupt signal received", os/signal's
// NotifyContext since Go 1.26); SIGTERM, a supervisor's stop (systemd, Docker, Kubernetes),
// is not an interruption: a server it stops cleanly exits 0, as supervisors expect.
func interruptedByCtrlC(ctx context.Context) bool {
	cause := context.Cause(ctx)
	return cause != nil && strings.HasPrefix(cause.Error(), os.Interrupt.String()+" signal")
}

// oneLine joins the lines of an error message into one: CLI.md promises one line on stderr,
// and some wrapped errors (yaml.v3's "unmarshal errors:" list, MSAL's, an HTTP body) carry
// several, whose detail (which line of a file, which field) is what says what to fix, and
// after which a wrapping hint may follow. A line ending in ':' introduces the next and is
// joined with a space; other lines with "; ". Blank lines are dropped.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	var b strings.Builder
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if b.Len() > 0 {
			if strings.HasSuffix(b.String(), ":") {
				b.WriteString(" ")
			} else {
				b.WriteString("; ")
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

// flagEnvFile is --env-file; its value is read before flags are parsed (clienv.LoadDotEnv).
const flagEnvFile = "env-file"

// envFileFlag is --env-file.
func envFileFlag() cli.Flag {
	return &cli.StringFlag{Name: flagEnvFile, Usage: "read settings from `FILE` instead of ./.env", EnvVars: envVar(flagEnvFile)}
}

// newLogger builds the slog logger of --log-format and --debug, writing to stderr.
func newLogger(c *cli.Context, stderr io.Writer) (*slog.Logger, error) {
	logger, err := clienv.NewLogger(stderr, c.String(flagLogFormat), c.Bool(flagDebug))
	if err != nil {
		return nil, usageErrorf("--log-format must be text or json, not %q", c.String(flagLogFormat))
	}
	return logger, nil
}
