package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

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
		}),
		Action: runProxy,
	}
}

// runProxy is the proxy Action. stdout belongs to the MCP protocol: a single stray byte
// would corrupt the JSON-RPC stream the host reads, so logs go to stderr or --log-file.
func runProxy(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf("proxy takes no arguments, got %q", c.Args().First())
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
	source, mode, err := proxyTokenSource(c, logOut, logger)
	if err != nil {
		return err
	}
	if source != nil {
		// Fail soft: an MCP host shows the JSON-RPC error of the first request (which says to
		// run fastmcp-auth login) better than a process that exited at once.
		if _, err := source(c.Context, false); err != nil {
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
		Token:      source,
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

// proxyForcedRefreshInterval is the least time between two refresh grants forced by a 401:
// enough for one refresh per rejection burst, few enough grants to keep the authority from
// throttling the user when the server rejects every token.
const proxyForcedRefreshInterval = 10 * time.Second

// errStaticTokenRejected is the refresh error of a --token the server rejected.
var errStaticTokenRejected = errors.New("a token given with --token or FASTMCP_AUTH_TOKEN cannot be refreshed: " +
	"pass a valid one, or unset it to use the cache of `fastmcp-auth login`")

// proxyTokenSource builds the proxy's token supply: none with --no-auth; --token (or
// FASTMCP_AUTH_TOKEN) as is; otherwise the login cache, refreshed silently before expiry and
// when the server rejects the token. It never starts the device flow: stdin and stdout carry
// the protocol, and MCP hosts hide stderr.
func proxyTokenSource(c *cli.Context, stderr io.Writer, logger *slog.Logger) (mcpproxy.TokenSource, string, error) {
	if c.Bool(flagNoAuth) {
		return nil, "none (--no-auth)", nil
	}
	// A static token cannot be refreshed: a forced refresh (the server rejected it) fails
	// with a message saying so rather than retrying the same token.
	if t := strings.TrimSpace(c.String(flagToken)); t != "" {
		warnTokenFlag(c, stderr)
		return func(_ context.Context, force bool) (string, error) {
			if force {
				return "", errStaticTokenRejected
			}
			return t, nil
		}, "--token", nil
	}
	cfg, err := loginConfigFromFlags(c, stderr)
	if err != nil {
		return nil, "", err
	}
	cfg.Prompt = nil // never a device-code prompt from the proxy
	cfg.Logger = logger
	l, err := auth.NewLogin(cfg)
	if err != nil {
		return nil, "", withCode(ExitUsage, err)
	}
	fetch := proxyFetch(l.Silent, l.Refresh, time.Now)
	return mcpproxy.NewCachedTokenSource(fetch), "login cache " + l.CacheFile(), nil
}

// proxyFetch is the proxy's token fetch on the login cache: silent (the cached access token
// while it is valid, else a refresh grant), or refresh (a refresh grant even though the cached
// token has not expired) when the server rejected the token, as after a key set rotation or a
// revocation. A server that rejects every token (a wrong audience) would make each request a
// refresh grant, and the authority would throttle the user: so forced refreshes are at least
// proxyForcedRefreshInterval apart, and in between the cached token is returned, which the
// proxy answers with the error saying to sign in, with the server's reason.
func proxyFetch(silent, refresh func(context.Context) (*auth.Token, error), now func() time.Time) mcpproxy.FetchFunc {
	var (
		mu         sync.Mutex
		lastForced time.Time
	)
	return func(ctx context.Context, force bool) (string, time.Time, error) {
		get := silent
		if force {
			mu.Lock()
			if t := now(); lastForced.IsZero() || t.Sub(lastForced) >= proxyForcedRefreshInterval {
				lastForced = t
				get = refresh
			}
			mu.Unlock()
		}
		tok, err := get(ctx)
		if err != nil {
			if errors.Is(err, auth.ErrNotSignedIn) {
				return "", time.Time{}, fmt.Errorf("%w; run `fastmcp-auth login`", err)
			}
			return "", time.Time{}, err
		}
		return tok.AccessToken, tok.ExpiresOn, nil
	}
}
