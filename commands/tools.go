package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/progress"
	"github.com/fastmcp-auth/fastmcp-auth/mcpclient"
)

// jsonOutputFlag is --json of tools and call.
func jsonOutputFlag() cli.Flag {
	return &cli.BoolFlag{Name: flagJSON, Usage: "machine-readable JSON on stdout", EnvVars: envVar(flagJSON)}
}

// progressFlag is --progress, shared by call and tools: CLI.md lists it for both, so that a
// script or a FASTMCP_AUTH_PROGRESS setting meant for call does not break tools. tools/list
// reports no progress, so on tools it is checked and has no other effect.
func progressFlag() cli.Flag {
	return &cli.StringFlag{Name: flagProgress, Value: progressAuto, Usage: "progress display on stderr: auto (bar on a terminal), bar, plain or none", EnvVars: envVar(flagProgress)}
}

// progressMode returns --progress, or a usage error for a value that is not one of the four.
func progressMode(c *cli.Context) (string, error) {
	mode := c.String(flagProgress)
	if !slices.Contains([]string{progressAuto, progressBar, progressPlain, progressNone}, mode) {
		return "", usageErrorf("--progress must be auto, bar, plain or none, not %q", mode)
	}
	return mode, nil
}

// newToolsCommand is `fastmcp-auth tools`: the server's tools, one a line, or as JSON.
func newToolsCommand() *cli.Command {
	return &cli.Command{
		Name:      "tools",
		Usage:     "list the tools of an MCP server",
		ArgsUsage: " ",
		Description: "Prints one tool a line: its name and description. With --json, a JSON array of the tools\n" +
			"with their input schemas. Exit codes: 3 not signed in, 401 or 403; 4 server unreachable.",
		Flags:  flagsOf(sharedFlags(), loginFlags(), clientFlags(), []cli.Flag{jsonOutputFlag(), progressFlag()}),
		Action: runTools,
	}
}

// runTools is the tools Action. tools takes no positional argument, but flags after the
// command name are still gathered by interspersedArgs, so that a flag put after a stray
// word is not silently dropped: the word becomes a usage error instead.
func runTools(c *cli.Context) error {
	rest, shown, err := interspersedArgs(c)
	if err != nil || shown {
		return err
	}
	if len(rest) > 0 {
		return extraArgError("tools", rest[0])
	}
	if _, err := progressMode(c); err != nil {
		return err
	}
	client, tools, err := connectAndList(c)
	if err != nil {
		return err
	}
	defer client.Close()
	stdout := c.App.Writer
	if c.Bool(flagJSON) {
		return writeJSON(stdout, tools)
	}
	return writeToolsText(stdout, tools)
}

// writeToolsText prints one tool a line (CLI.md), so the text form works with grep, cut and
// wc -l: only the first line of a description is kept. Name and description are the server's
// text on a person's terminal: they lose their control characters, as progress messages do,
// so that a server cannot clear the screen or retitle the window. --json needs no such care:
// JSON escapes them.
func writeToolsText(w io.Writer, tools []*mcp.Tool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, t := range tools {
		desc, _, _ := strings.Cut(strings.TrimSpace(t.Description), "\n")
		fmt.Fprintf(tw, "%s\t%s\n", progress.SanitizeTerminal(t.Name), progress.SanitizeTerminal(desc))
	}
	return tw.Flush()
}

// connectAndList opens the MCP session (connectMCP) and lists the server's tools; the
// caller closes the client. Errors carry their exit code.
func connectAndList(c *cli.Context) (*mcpclient.Client, []*mcp.Tool, error) {
	client, err := connectMCP(c)
	if err != nil {
		return nil, nil, err
	}
	tools, err := client.ListTools(c.Context)
	if err != nil {
		_ = client.Close()
		return nil, nil, clientError(err)
	}
	return client, tools, nil
}

// connectMCP opens the MCP session of tools and call: --server, the bearer token of
// clientTokens (or none with --no-auth), --ca-file trusted. Errors carry their exit code.
func connectMCP(c *cli.Context) (*mcpclient.Client, error) {
	stderr := c.App.ErrWriter
	logger, err := newLogger(c, stderr)
	if err != nil {
		return nil, err
	}
	server := strings.TrimSpace(c.String(flagServer))
	if err := checkServerURL(c, server, "http://localhost:8000/mcp"); err != nil {
		return nil, err
	}
	httpClient, err := auth.NewHTTPClient(c.String(flagCAFile))
	if err != nil {
		return nil, usageErrorf("%v", err)
	}
	tokens, err := clientTokens(c.Context, c, stderr)
	if err != nil {
		return nil, err
	}
	client, err := mcpclient.Connect(c.Context, mcpclient.Config{
		Server:     server,
		Token:      tokens,
		HTTPClient: httpClient,
		Logger:     logger,
		Version:    Version,
	})
	if err != nil {
		return nil, clientError(err)
	}
	return client, nil
}

// clientError attaches the exit code of CLI.md to an mcpclient error: 3 for 401 and 403 (the
// server's, or a gateway's for its upstream), 4
// for an unreachable server; a cancelled context is left for Run to report as 130.
func clientError(err error) error {
	var (
		ae *mcpclient.AuthError
		ue *mcpclient.UnreachableError
		ua *mcpclient.UpstreamAuthError
	)
	switch {
	case errors.As(err, &ae), errors.As(err, &ua):
		return withCode(ExitAuth, err)
	case errors.As(err, &ue):
		return withCode(ExitUnreachable, err)
	// Left without a code: Run sees the cancelled context and reports 130 (Ctrl-C), or 1
	// when only a deadline passed.
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return withCode(ExitFailure, err)
}

// writeJSON writes v as indented JSON and a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Output is read by people and jq, not embedded in HTML: keep <, > and & readable.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("could not write JSON: %w", err)
	}
	return nil
}
