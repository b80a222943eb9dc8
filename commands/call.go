package commands

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/internal/progress"
	"github.com/fastmcp-auth/fastmcp-auth/internal/toolargs"
	"github.com/fastmcp-auth/fastmcp-auth/mcpclient"
)

// flagArgs is --args of call: a JSON object of arguments, or "-" to read it from stdin.
const flagArgs = "args"

// Values of --progress.
const (
	progressAuto  = "auto"
	progressBar   = progress.Bar
	progressPlain = progress.Plain
	progressNone  = "none"
)

// newCallCommand is `fastmcp-auth call TOOL [ARG...]`.
func newCallCommand() *cli.Command {
	return &cli.Command{
		Name:      "call",
		Usage:     "call a tool of an MCP server",
		ArgsUsage: "TOOL [key=value | key:=json]...",
		Description: "Arguments: key=value is converted to the type the tool's input schema declares (min=1 is the\n" +
			"integer 1); key:=json is raw JSON; --args '{...}' or --args - (stdin) give a JSON object that the\n" +
			"other arguments override. Flags may also follow the tool name; -- ends them.\n\n" +
			"Prints the structured result as JSON when the tool returns one, else its text; --json prints the\n" +
			"whole result. Exit codes: 1 the tool reported an error (its text on stdout, one error line on\n" +
			"stderr); 2 bad arguments or unknown tool; 3 not signed in, 401 or 403; 4 server unreachable;\n" +
			"130 interrupted (the call is cancelled on the server).",
		Flags: flagsOf(sharedFlags(), loginFlags(), clientFlags(), []cli.Flag{
			jsonOutputFlag(),
			progressFlag(),
			&cli.StringFlag{Name: flagArgs, Usage: "tool arguments as a JSON object, or - to read it from stdin", EnvVars: envVar(flagArgs)},
		}),
		Action: runCall,
	}
}

// runCall is the call Action: parse the arguments, connect, look the tool up in tools/list
// (its input schema types the key=value arguments), call it with progress, print the result.
func runCall(c *cli.Context) error {
	// urfave stops parsing flags at the tool name, as the flag package does; users of gh
	// and kubectl put flags at the end (`call reverse_tool query=hi --json`), so the flags
	// among the positional arguments are applied here.
	positional, shown, err := interspersedArgs(c)
	if err != nil || shown {
		return err
	}
	if len(positional) == 0 {
		return usageErrorf("call needs a tool name: fastmcp-auth call TOOL [key=value ...] (fastmcp-auth tools lists them)")
	}
	name := positional[0]
	raw, err := toolargs.Parse(positional[1:])
	if err != nil {
		return argsError(err)
	}
	// Every usage check runs before connecting, so a typo costs no sign-in or round trip.
	if err := toolargs.CheckObject(c.String(flagArgs)); err != nil {
		return argsError(err)
	}
	mode, err := progressMode(c)
	if err != nil {
		return err
	}

	// tools/list first: it gives the schema to type the arguments by, and an unknown tool
	// becomes exit 2 listing the tools the server offers.
	client, tools, err := connectAndList(c)
	if err != nil {
		return err
	}
	defer client.Close()
	i := slices.IndexFunc(tools, func(t *mcp.Tool) bool { return t.Name == name })
	if i < 0 {
		names := make([]string, len(tools))
		for j, t := range tools {
			names[j] = t.Name
		}
		slices.Sort(names)
		return usageErrorf("the server has no tool %q; it offers: %s", name, strings.Join(names, ", "))
	}
	args, err := toolargs.Build(tools[i], c.String(flagArgs), c.App.Reader, raw)
	if err != nil {
		return argsError(err)
	}

	stderr := c.App.ErrWriter
	jsonOut := c.Bool(flagJSON)
	rep := newProgressReporter(mode, jsonOut, stderr)
	// No reporter means no callback, so the request carries no progress token and the
	// server sends no notifications that would only be dropped.
	var onProgress func(mcpclient.Progress)
	if rep != nil {
		onProgress = func(p mcpclient.Progress) { rep.Update(p.Progress, p.Total, p.Message) }
	}
	res, err := client.CallTool(c.Context, name, args, onProgress)
	if rep != nil {
		rep.Finish() // the final update is on screen before the result
	}
	if err != nil {
		return clientError(err)
	}
	return writeCallResult(c.App.Writer, name, res, jsonOut)
}

// writeCallResult prints a tool result: with asJSON the whole result object; otherwise the
// structured content as JSON when present, else the text content. A result with isError is
// exit 1 with one "tool X failed: ..." error: its text content is the result printed on
// stdout (CLI.md: "else the text content"), and the error names its first line.
func writeCallResult(stdout io.Writer, name string, res *mcp.CallToolResult, asJSON bool) error {
	if asJSON {
		if err := writeJSON(stdout, res); err != nil {
			return err
		}
	}
	// A tool error is exit 1 (CLI.md): the call went through and the tool itself said no,
	// so it is neither a usage nor an auth problem.
	if res.IsError {
		// The server chose the text: no escape sequence of its reaches the terminal.
		text := strings.TrimSpace(progress.SanitizeText(contentText(res.Content)))
		if !asJSON && text != "" {
			if _, err := fmt.Fprintln(stdout, text); err != nil {
				return err
			}
		}
		return withCode(ExitFailure, toolFailed(name, text, asJSON))
	}
	if asJSON {
		return nil
	}
	if res.StructuredContent != nil {
		return writeJSON(stdout, res.StructuredContent)
	}
	text := contentText(res.Content)
	if text == "" {
		return nil
	}
	_, err := fmt.Fprintln(stdout, strings.TrimSuffix(text, "\n"))
	return err
}

// maxToolErrorSummary bounds, in characters, the tool's message in the error line.
const maxToolErrorSummary = 200

// toolFailed is the one-line error of a tool result with isError (CLI.md: errors are one line
// on stderr): the first line of the tool's message, cut to maxToolErrorSummary characters,
// and, when that is not all of it, where the whole message is.
func toolFailed(name, text string, asJSON bool) error {
	if text == "" {
		return fmt.Errorf("tool %s failed with no message", name)
	}
	summary, rest, multi := strings.Cut(text, "\n")
	cut := multi && strings.TrimSpace(rest) != ""
	if r := []rune(summary); len(r) > maxToolErrorSummary {
		summary, cut = string(r[:maxToolErrorSummary])+"…", true
	}
	if !cut {
		return fmt.Errorf("tool %s failed: %s", name, summary)
	}
	where := "its whole message is on stdout"
	if asJSON {
		where = "the whole result is on stdout"
	}
	return fmt.Errorf("tool %s failed: %s; %s", name, strings.TrimSpace(summary), where)
}

// contentText joins the text of a result's content blocks, one per line; other kinds of
// content are named rather than dumped.
func contentText(content []mcp.Content) string {
	var parts []string
	for _, c := range content {
		switch c := c.(type) {
		case *mcp.TextContent:
			parts = append(parts, c.Text)
		case *mcp.ImageContent:
			parts = append(parts, fmt.Sprintf("[image %s, %d bytes]", c.MIMEType, len(c.Data)))
		case *mcp.AudioContent:
			parts = append(parts, fmt.Sprintf("[audio %s, %d bytes]", c.MIMEType, len(c.Data)))
		case *mcp.ResourceLink:
			parts = append(parts, fmt.Sprintf("[resource %s]", c.URI))
		case *mcp.EmbeddedResource:
			if c.Resource != nil && c.Resource.Text != "" {
				parts = append(parts, c.Resource.Text)
			} else if c.Resource != nil {
				parts = append(parts, fmt.Sprintf("[resource %s]", c.Resource.URI))
			}
		}
	}
	return strings.Join(parts, "\n")
}

// newProgressReporter returns the reporter of --progress, or nil for none (then the call
// asks for no progress at all). auto means a bar when stderr is a terminal, else nothing: a
// bar redraws itself with carriage returns, which in a CI log or a file is noise.
func newProgressReporter(mode string, asJSON bool, stderr io.Writer) *progress.Reporter {
	switch mode {
	case progressNone:
		return nil
	case progressAuto:
		if !promptsOnTerminal(stderr) {
			return nil
		}
		mode = progressBar
	}
	return progress.New(stderr, mode, asJSON)
}
