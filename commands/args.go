package commands

import (
	"errors"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/internal/toolargs"
)

// flagArg is one flag found among the positional arguments.
type flagArg struct {
	name, value string
}

// splitInterspersed separates flags from positional arguments in args, so that flags may
// follow the tool name and its arguments (`call reverse_tool query=hi --json`), as with gh and
// kubectl: urfave/cli, like the standard flag package, stops at the first positional.
// takesValue reports whether a flag name is known and whether it takes a value; a flag that
// takes one consumes the next argument unless written --name=value. "--" ends the flags.
func splitInterspersed(args []string, takesValue func(name string) (known, hasValue bool)) (flags []flagArg, positional []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		// "--" lets a tool argument that starts with "-" through (call t -- -x=1).
		if a == "--" {
			return flags, append(positional, args[i+1:]...), nil
		}
		// A lone "-" is positional, as in most CLIs (it usually means stdin).
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, value, hasEq := strings.Cut(name, "=")
		// An unknown flag is an error, not a positional: guessing would send a mistyped
		// --jsn to the tool as an argument, or run with a setting silently ignored.
		known, needsValue := takesValue(name)
		if !known || name == "" {
			return nil, nil, usageErrorf("unknown flag %s (see --help)", strings.SplitN(a, "=", 2)[0])
		}
		switch {
		case hasEq: // --name=value: the value is already cut off
		case needsValue:
			if i+1 >= len(args) {
				return nil, nil, withCode(ExitUsage, &missingValueError{name: name})
			}
			i++
			value = args[i]
		default:
			value = "true"
		}
		flags = append(flags, flagArg{name: name, value: value})
	}
	return flags, positional, nil
}

// missingValueError is a flag that takes a value standing last, with none after it.
type missingValueError struct{ name string }

func (e *missingValueError) Error() string { return "flag --" + e.name + " needs a value" }

// flagValueHints names the values of the flags that have a fixed set, for the error of such a
// flag given without one.
var flagValueHints = map[string]string{
	flagProgress: progressAuto + ", " + progressBar + ", " + progressPlain + " or " + progressNone + " (--" + flagProgress + "=" + progressPlain + ")",
}

// explainMissingValue completes a missingValueError of command with what to write: the
// flag's values when they are few, else the --name=VALUE form and the command's help.
func explainMissingValue(err error, command string) error {
	var mv *missingValueError
	if !errors.As(err, &mv) {
		return err
	}
	if hint, ok := flagValueHints[mv.name]; ok {
		return usageErrorf("%v: %s", mv, hint)
	}
	return usageErrorf("%v: write --%s=VALUE (see fastmcp-auth %s --help)", mv, mv.name, command)
}

// interspersedArgs applies the flags that stand among the positional arguments of c (after
// urfave/cli has parsed those before them) and returns the positional arguments. What takes a
// value is read from the command's own flag definitions. When -h or --help appeared it shows
// the command's help and returns shown, with the error of showing it.
func interspersedArgs(c *cli.Context) (positional []string, shown bool, err error) {
	// primary maps every name and alias to the flag's first name (what c.Set expects);
	// valued says whether the flag consumes the next argument. A flag type that cannot say
	// is taken to take a value: the safer guess, as it never turns a value into a tool name.
	primary := map[string]string{}
	valued := map[string]bool{}
	for _, f := range c.Command.Flags {
		names := f.Names()
		tv := true
		if df, ok := f.(cli.DocGenerationFlag); ok {
			tv = df.TakesValue()
		}
		for _, n := range names {
			primary[n] = names[0]
			valued[n] = tv
		}
	}
	flags, positional, err := splitInterspersed(c.Args().Slice(), func(name string) (bool, bool) {
		if name == "h" || name == "help" {
			return true, false
		}
		_, ok := primary[name]
		return ok, valued[name]
	})
	if err != nil {
		return nil, false, explainMissingValue(err, c.Command.Name)
	}
	for _, f := range flags {
		if f.name == "h" || f.name == "help" {
			return positional, true, cli.ShowSubcommandHelp(c)
		}
		// c.Set goes through the flag's own parser, so a late --progress=x or --json=maybe
		// is checked exactly as if it had come first. A value set here beats the env var,
		// as a flag should.
		if err := c.Set(primary[f.name], f.value); err != nil {
			return nil, false, usageErrorf("invalid value %q for flag --%s: %v", f.value, f.name, err)
		}
	}
	return positional, false, nil
}

// argsError maps the refusals of toolargs to exit 2.
func argsError(err error) error {
	if errors.Is(err, toolargs.ErrUsage) {
		return withCode(ExitUsage, err)
	}
	return err
}
