// Package clienv prepares the process environment of a command-line run: the .env file,
// applied beneath the real environment before the flags are parsed, and the slog logger of
// --log-format and --debug. It knows no flag library; package commands wires it.
package clienv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
)

// LoadDotEnv applies a .env file beneath the real environment: a variable already set in the
// environment wins, so the precedence is flag > env > .env > default. The file is the
// project's shared, long-lived configuration; a variable set for one run is the more specific
// wish, so it must win.
//
// A variable set to the empty string counts as unset: CI systems and `VAR= cmd` leave empty
// variables behind that nobody meant as a setting, and an empty --server or --client-id is
// never what was wanted. Such a variable takes the .env value, and an empty variable of the
// commands' own (the prefix of envVar, which is the variable of flag) that .env does not set
// is removed from the process environment, so that the flag library, which takes any set
// variable, falls back to the built-in default.
//
// The file is the value of --<flag> in args (found by hand, since the flags are not parsed yet;
// the scan stops at "--", after which every word is a tool argument), else of the environment
// variable envVar, else ./.env. A missing ./.env is normal; a file the user named and that
// cannot be read is an error, never silently ignored (the settings they meant would be
// missing).
func LoadDotEnv(args []string, flag, envVar string) error {
	// Last, whether or not there is a file: the empty variables .env did not fill.
	defer unsetEmpty(envPrefix(flag, envVar))
	// source names where the path came from, for the error that says what to fix.
	path, source := "", ""
	for i, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--"+flag+"="); ok {
			path, source = v, "--"+flag
		} else if a == "--"+flag && i+1 < len(args) {
			path, source = args[i+1], "--"+flag
		}
	}
	if source == "" {
		if v := os.Getenv(envVar); v != "" {
			path, source = v, envVar
		} else {
			path = ".env"
		}
	}
	f, err := os.Open(path) //nolint:gosec // G703: the path is ./.env or the user's own --env-file
	if err != nil {
		if source == "" && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return envFileError(path, source, flag, err)
	}
	defer func() { _ = f.Close() }()
	vars, err := ParseDotEnv(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	for k, v := range vars {
		if os.Getenv(k) == "" {
			if err := os.Setenv(k, v); err != nil {
				return fmt.Errorf("%s: could not set %s: %w", path, k, err)
			}
		}
	}
	return nil
}

// envFileError says which env file could not be read, where its name came from, and what to
// do: fix the path given by --env-file (or its variable), or the file ./.env itself.
func envFileError(path, source, flag string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is named already
	}
	if source == "" {
		return fmt.Errorf("could not read env file %s: %w: fix its permissions, or name another with --%s FILE", path, err, flag)
	}
	return fmt.Errorf("could not read env file %s given by %s: %w: check the path, or leave %s out to read ./.env", path, source, err, source)
}

// envPrefix is the prefix of the commands' variables: envVar is prefix + FLAG (upper case,
// "-" as "_"). It is "" when envVar does not have that form.
func envPrefix(flag, envVar string) string {
	prefix, ok := strings.CutSuffix(envVar, strings.ToUpper(strings.ReplaceAll(flag, "-", "_")))
	if !ok {
		return ""
	}
	return prefix
}

// unsetEmpty removes the variables of the environment that start with prefix and are set to
// the empty string. An empty prefix removes nothing: other programs' variables are not ours
// to change.
func unsetEmpty(prefix string) {
	if prefix == "" {
		return
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if v == "" && strings.HasPrefix(k, prefix) {
			_ = os.Unsetenv(k)
		}
	}
}

// ParseDotEnv reads KEY=VALUE lines: blank lines and # comments are skipped, an optional
// "export " prefix is allowed. A value may be quoted, as in other dotenv readers: 'single'
// (taken as written) or "double" (where \" is a quote and \\ a backslash; any other
// backslash stays), and a # comment may follow the closing quote; inside quotes # is text.
// An unquoted value ends at " #". An error names the line.
func ParseDotEnv(r io.Reader) (map[string]string, error) {
	vars := map[string]string{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("line %d: expected KEY=VALUE", n)
		}
		v, err := dotEnvValue(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		vars[k] = v
	}
	return vars, sc.Err()
}

// dotEnvValue reads the value of one line (trimmed): quoted, with an optional comment after
// the closing quote, or unquoted up to " #" (or a tab before the #).
func dotEnvValue(v string) (string, error) {
	if v == "" || (v[0] != '"' && v[0] != '\'') {
		// A # after a blank starts a comment; one inside a word (a URL's fragment) does not.
		for i := 1; i < len(v); i++ {
			if v[i] == '#' && (v[i-1] == ' ' || v[i-1] == '\t') {
				return strings.TrimSpace(v[:i]), nil
			}
		}
		return v, nil
	}
	quote := v[0]
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch {
		case c == quote:
			// After the closing quote only a comment may follow: `KEY="a"b` is more likely a
			// mistake than a wish for the text a"b.
			if rest := strings.TrimSpace(v[i+1:]); rest != "" && rest[0] != '#' {
				return "", fmt.Errorf("text after the closing %c: quote the whole value, or put a space and # before a comment", quote)
			}
			return b.String(), nil
		case c == '\\' && quote == '"' && i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\'):
			i++
			b.WriteByte(v[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("the value's opening %c has no closing %c", quote, quote)
}

// ErrLogFormat is returned by NewLogger for a format other than text or json.
var ErrLogFormat = errors.New("unknown log format")

// NewLogger builds a slog logger writing to w in format "text" (or "") or "json", at debug
// level when debug is set, else info.
func NewLogger(w io.Writer, format string, debug bool) (*slog.Logger, error) {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("%w %q: want text or json", ErrLogFormat, format)
	}
}
