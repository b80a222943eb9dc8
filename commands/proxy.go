package commands

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/mcpproxy"
)

// flagLogFile is proxy's --log-file: logs go there instead of stderr.
const flagLogFile = "log-file"

// newProxyCommand is `fastmcp-auth proxy`: a stdio MCP server relaying everything to the
// remote secured server with the cached token, for MCP hosts that only start local servers.
func newProxyCommand() *cli.Command {
	return &cli.Command{
		Name:      "proxy",
		Usage:     "serve a remote secured MCP server over stdio, with the cached token (Claude Desktop, VS Code, Cursor)",
		ArgsUsage: " ",
		Description: "Reads MCP messages on stdin and writes them on stdout (the stdio transport), relaying each\n" +
			"to --server over Streamable HTTP with the bearer token of `fastmcp-auth login` (refreshed\n" +
			"silently), --token, or none with --no-auth. A rejected token is refreshed once; if that fails,\n" +
			"the request gets a JSON-RPC error saying to run `fastmcp-auth login`. Logs go to stderr or\n" +
			"--log-file, never stdout. Exits 0 when stdin closes.",
		Flags: flagsOf(sharedFlags(), loginFlags(), clientFlags(), []cli.Flag{
			&cli.StringFlag{Name: flagLogFile, Usage: "append logs to `FILE` (created 0600) instead of stderr", EnvVars: envVar(flagLogFile)},
			browserFlag(),
		}),
		Action: runProxy,
	}
}

// runProxy is the proxy Action. stdout belongs to the MCP protocol: a single stray byte
// would corrupt the JSON-RPC stream the host reads, so logs go to stderr or --log-file.
func runProxy(c *cli.Context) error {
	if c.NArg() > 0 {
		return extraArgError("proxy", c.Args().First())
	}
	server := strings.TrimSpace(c.String(flagServer))
	if err := checkServerURL(c, server, "https://mcp.example.com/mcp"); err != nil {
		return err
	}
	logOut := c.App.ErrWriter
	if path := strings.TrimSpace(c.String(flagLogFile)); path != "" {
		f, err := openLogFile(path)
		if err != nil {
			return usageErrorf("--%s: %v", flagLogFile, err)
		}
		defer f.Close()
		logOut = f
	}
	logger, err := newLogger(c, logOut)
	if err != nil {
		return err
	}
	httpClient, err := auth.NewHTTPClient(strings.TrimSpace(c.String(flagCAFile)))
	if err != nil {
		return usageErrorf("%v", err)
	}
	if tr, ok := httpClient.Transport.(*http.Transport); ok {
		// Each running tool call holds a connection for its SSE stream: keep more idle
		// connections than the default 2, so that other requests reuse them.
		tr.MaxIdleConnsPerHost = 16
	}
	tokens, mode, err := proxyTokens(c, logOut, logger)
	if err != nil {
		return err
	}
	if tokens != nil {
		// Fail soft: an MCP host shows the JSON-RPC error of the first request (which says to
		// run fastmcp-auth login) better than a process that exited at once.
		if _, err := tokens.Token(c.Context); err != nil {
			logger.Warn("no usable token yet; requests will fail until you sign in", "error", err)
		}
	}
	logger.Info("proxying stdio to the MCP server", "server", server, "auth", mode)
	// Tests set c.App.Reader; urfave defaults it to os.Stdin, so the nil check is a guard.
	stdin := c.App.Reader
	if stdin == nil {
		stdin = os.Stdin
	}
	err = mcpproxy.Run(c.Context, mcpproxy.Config{
		Server:     server,
		Token:      tokens,
		HTTPClient: httpClient,
		Logger:     logger,
	}, stdin, c.App.Writer)
	if err != nil {
		return err
	}
	logger.Info("stdin closed; proxy stopped")
	return nil
}

// openLogFile opens path for appending, creating it 0600: logs name the server and accounts,
// which are nobody else's business even though they never hold a token.
func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	// OpenFile's mode applies only on creation: an existing file is tightened too.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// proxyTokens builds the proxy's token supply: none with --no-auth; --token (or
// FASTMCP_AUTH_TOKEN) as is; otherwise the login cache, refreshed silently before expiry and
// when the server rejects the token (auth.TokenSupply limits the forced refreshes). It never
// starts the device flow: stdin and stdout carry the protocol, and MCP hosts hide stderr.
func proxyTokens(c *cli.Context, stderr io.Writer, logger *slog.Logger) (*auth.TokenSupply, string, error) {
	if c.Bool(flagNoAuth) {
		return nil, "none (--no-auth)", nil
	}
	if t := strings.TrimSpace(c.String(flagToken)); t != "" {
		warnTokenFlag(c, stderr)
		return auth.StaticToken(t), "--token", nil
	}
	if app, err := appTokens(c.Context, c); err != nil {
		return nil, "", err
	} else if app != nil {
		return app, "client credentials (app-only, not cached)", nil
	}
	cfg, err := loginConfigFromFlags(c, stderr)
	if err != nil {
		return nil, "", err
	}
	// With --browser and a terminal, the first sign-in opens a browser (its URL goes to the
	// terminal); otherwise there is no prompt at all.
	term := c.App.ErrWriter
	browser := c.Bool(flagBrowser) && promptsOnTerminal(term)
	cfg.Prompt = nil
	if browser {
		cfg.Prompt = term
	}
	cfg.Logger = logger
	l, err := auth.NewLogin(cfg)
	if err != nil {
		return nil, "", loginSetupError(err)
	}
	var first *auth.Token
	if browser {
		if _, err := l.Silent(c.Context); errors.Is(err, auth.ErrNotSignedIn) {
			tok, err := l.Browser(c.Context)
			if err != nil {
				return nil, "", loginExitError(err)
			}
			fmt.Fprintf(term, "signed in as %s\n", describeToken(tok))
			first = tok
		}
	}
	return auth.NewLoginSupply(l, first), "login cache " + l.CacheFile(), nil
}
