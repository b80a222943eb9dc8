package commands

import (
	"io"
	"slices"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestEveryFlagHasItsEnvironmentVariable checks CLI.md's rule: every flag can also be set by
// FASTMCP_AUTH_<NAME> (upper case, "-" becomes "_").
func TestEveryFlagHasItsEnvironmentVariable(t *testing.T) {
	// The rows of CLI.md that name another variable.
	others := map[string]string{"dev-authority --client-secret-file": envDevClientSecretFile}
	app := NewApp(io.Discard, io.Discard)
	for _, cmd := range app.Commands {
		for _, f := range cmd.Flags {
			name := f.Names()[0]
			if name == "help" {
				continue
			}
			ev, ok := f.(interface{ GetEnvVars() []string })
			if !ok {
				t.Errorf("%s --%s: flag type %T has no environment variables", cmd.Name, name, f)
				continue
			}
			want := envVar(name)[0]
			if o, ok := others[cmd.Name+" --"+name]; ok {
				want = o
			}
			if !slices.Contains(ev.GetEnvVars(), want) {
				t.Errorf("%s --%s: environment variables %v lack %s", cmd.Name, name, ev.GetEnvVars(), want)
			}
		}
	}
}

// TestCommandsOfTheContract checks that every command of CLI.md (and proxy) exists.
func TestCommandsOfTheContract(t *testing.T) {
	app := NewApp(io.Discard, io.Discard)
	for _, name := range []string{"serve", "login", "logout", "token", "whoami", "tools", "call", "dev-authority", "demo", "proxy"} {
		if !slices.ContainsFunc(app.Commands, func(c *cli.Command) bool { return c.Name == name }) {
			t.Errorf("no %q command", name)
		}
	}
}
