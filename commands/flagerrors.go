package commands

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
)

// The parse errors of the standard flag package (command-line values) and of urfave/cli
// (environment values), as they read in the versions go.mod pins; flagErrorPatterns matches
// them so that onUsageError can say what to give instead. A message that matches none is
// passed on as it is, with a pointer to --help.
type flagErrorPatterns struct {
	value, env, needsValue, undefined *regexp.Regexp
}

// quoted is a Go-quoted string (%q), captured whole.
const quoted = `("(?:[^"\\]|\\.)*")`

// flagErrors compiles the patterns on first use: only a failed parse needs them, and
// package-level regexps would be compiled by every run of the binary.
var flagErrors = sync.OnceValue(func() flagErrorPatterns {
	return flagErrorPatterns{
		// flag: `invalid value "x" for flag -name: parse error`, `invalid boolean value "x" for -name: ...`
		value: regexp.MustCompile(`^invalid (?:boolean )?value ` + quoted + ` for (?:flag )?-+([^:\s]+): (.*)$`),
		// urfave: `could not parse "x" as duration value from environment variable "V" for flag name: ...`
		env:        regexp.MustCompile(`^could not parse ` + quoted + ` as ([a-z0-9]+)(?: slice)? value from environment variable "([^"]+)" for flag ([^:\s]+): (.*)$`),
		needsValue: regexp.MustCompile(`^flag needs an argument: -+(\S+)$`),
		undefined:  regexp.MustCompile(`^flag provided but not defined: -+(\S+)$`),
	}
})

// onUsageError turns urfave's flag-parsing errors (unknown flag, a value that does not
// parse) into exit 2, as CLI.md requires. Without it urfave prints "Incorrect Usage" and the
// whole help on stdout, which would pollute the output a script captures. The message is
// translated into one that names the flag as it is typed (--name, or the environment variable
// and its flag), the value, and what to give: the flag package's own says "parse error".
func onUsageError(c *cli.Context, err error, _ bool) error {
	return &exitError{code: ExitUsage, err: translateFlagError(c, err)}
}

// translateFlagError is onUsageError's message; see there.
func translateFlagError(c *cli.Context, err error) error {
	help := "fastmcp-auth"
	if c != nil && c.Command != nil && c.Command.HelpName != "" {
		help = c.Command.HelpName
	}
	p, msg := flagErrors(), err.Error()
	if m := p.value.FindStringSubmatch(msg); m != nil {
		f := findFlag(c, m[2])
		return valueError("--"+m[2], m[1], flagKind(f), intExample(f), m[3], help, err)
	}
	if m := p.env.FindStringSubmatch(msg); m != nil {
		kind, f := m[2], findFlag(c, m[4])
		if f != nil {
			kind = flagKind(f)
		}
		return valueError(m[3]+" (for --"+m[4]+")", m[1], kind, intExample(f), m[5], help, err)
	}
	if m := p.needsValue.FindStringSubmatch(msg); m != nil {
		if example := kindExample(findFlag(c, m[1])); example != "" {
			return fmt.Errorf("--%s needs a value: give one such as %s", m[1], example)
		}
		return fmt.Errorf("--%s needs a value (see %s --help)", m[1], help)
	}
	if m := p.undefined.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("flag provided but not defined: --%s (see %s --help)", m[1], help)
	}
	return fmt.Errorf("%w (see %s --help)", err, help)
}

// valueError is the message for value (Go-quoted), given to what (a flag or a variable), that
// does not parse as kind; example is a number to show for an int, detail the parser's reason.
func valueError(what, value, kind, example, detail, help string, err error) error {
	v, uerr := strconv.Unquote(value)
	if uerr != nil {
		return fmt.Errorf("%w (see %s --help)", err, help)
	}
	switch kind {
	case "duration":
		return fmt.Errorf("%s: %q is not a duration: give one such as 60s or 5m", what, v)
	case "bool":
		return fmt.Errorf("%s: %q is not true or false: use true or false", what, v)
	case "int", "int64", "uint", "uint64":
		if strings.Contains(detail, "out of range") {
			return fmt.Errorf("%s: %q is out of range: give a whole number such as %s", what, v, example)
		}
		return fmt.Errorf("%s: %q is not a whole number: give one such as %s", what, v, example)
	}
	return fmt.Errorf("%s: %q is not a valid value (see %s --help)", what, v, help)
}

// intExample is the whole number the messages show for f: its default (100 for
// --max-sessions), else 10.
func intExample(f cli.Flag) string {
	if i, ok := f.(*cli.IntFlag); ok && i.Value != 0 {
		return strconv.Itoa(i.Value)
	}
	return "10"
}

// findFlag returns the flag of c's command (or of the App) named name, or nil.
func findFlag(c *cli.Context, name string) cli.Flag {
	if c == nil {
		return nil
	}
	var groups [][]cli.Flag
	if c.Command != nil {
		groups = append(groups, c.Command.Flags)
	}
	if c.App != nil {
		groups = append(groups, c.App.Flags)
	}
	for _, flags := range groups {
		for _, f := range flags {
			if slices.Contains(f.Names(), name) {
				return f
			}
		}
	}
	return nil
}

// flagKind names the value type of f as urfave's environment errors do: duration, bool, int;
// "" for the others (strings take any value).
func flagKind(f cli.Flag) string {
	switch f.(type) {
	case *cli.DurationFlag:
		return "duration"
	case *cli.BoolFlag:
		return "bool"
	case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
		return "int"
	}
	return ""
}

// kindExample is an example value of f's type, "" for a string flag (see its --help).
func kindExample(f cli.Flag) string {
	switch flagKind(f) {
	case "duration":
		return "60s or 5m"
	case "int":
		return intExample(f)
	}
	return ""
}
