package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/mcpclient"
	"github.com/fastmcp-auth/fastmcp-auth/mcpserver"
)

// flagDemoQuery is demo's --query: the text reverse_tool reverses. The default mixes a
// skin-tone emoji and a flag so the demo shows that grapheme clusters stay whole.
const flagDemoQuery = "query"

// newDemoCommand is `fastmcp-auth demo`: the whole flow (authority, server, sign-in, call) in
// one process, on loopback, touching none of the user's files or settings.
func newDemoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "run authority, server, device-code login and a reverse_tool call in one process, offline",
		Description: "Starts the development authority and the secured server on free loopback ports, signs in\n" +
			"through the real login code path (MSAL, device code flow, auto-approved), lists the tools and\n" +
			"calls reverse_tool with live progress. Keys and token cache live in a temporary directory\n" +
			"removed on exit: nothing of yours is touched.",
		Flags: flagsOf(sharedFlags(), []cli.Flag{
			// FASTMCP_AUTH_DEMO_PROGRESS_INTERVAL first, so that a .env written for serve (whose
			// FASTMCP_AUTH_PROGRESS_INTERVAL CLI.md's rule also gives this flag) can be overridden.
			&cli.DurationFlag{Name: flagProgressInterval, Value: 300 * time.Millisecond, Usage: "`DURATION` between the five progress steps",
				EnvVars: append([]string{envPrefix + "DEMO_PROGRESS_INTERVAL"}, envVar(flagProgressInterval)...)},
			&cli.StringFlag{Name: flagDemoQuery, Value: "Hello, MCP! 👋🏽 🇫🇷", Usage: "`TEXT` to reverse", EnvVars: envVar(flagDemoQuery)},
		}),
		Action: func(c *cli.Context) error {
			// The component logs would bury the step lines: silent unless --debug.
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			if c.Bool(flagDebug) {
				var err error
				if logger, err = newLogger(c, c.App.ErrWriter); err != nil {
					return err
				}
			}
			return runDemo(c.Context, demoConfig{
				out: c.App.Writer, logger: logger,
				interval: c.Duration(flagProgressInterval), query: c.String(flagDemoQuery),
			})
		},
	}
}

// demoConfig is what runDemo needs from the command line. out carries the step lines, which
// are demo's result; errors are returned for Run to print on stderr.
type demoConfig struct {
	out      io.Writer
	logger   *slog.Logger
	interval time.Duration
	query    string
}

// runDemo is the whole flow; each step prints one line as it completes.
func runDemo(ctx context.Context, cfg demoConfig) (err error) {
	start := time.Now()
	step := func(format string, args ...any) {
		fmt.Fprintf(cfg.out, "%5.2fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	// Everything the demo writes (the authority's CA and keys, the token cache) lives under
	// this private temporary directory, removed on return: the user's token cache and
	// dev-authority state dir are never read or written. MkdirTemp makes it 0700, so the
	// refresh token in it is not readable by other users meanwhile.
	dir, err := os.MkdirTemp("", "fastmcp-auth-demo-")
	if err != nil {
		return fmt.Errorf("could not create a temporary directory: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = fmt.Errorf("could not remove %s: %w", dir, rmErr)
		} else if rmErr == nil {
			step("removed %s", dir)
		}
	}()
	// cancel stops the server goroutine on every return path, and Ctrl-C (the parent ctx)
	// stops every step.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// 1. The development authority, on a free loopback port: port 0 never collides with a
	// dev-authority the user already runs on 127.0.0.1:8443. AutoApprove stands in for the
	// person who would approve the code in a browser.
	const apiClientID = "fastmcp-dev-api"
	authority, err := devauthority.New(devauthority.Config{
		Addr: "127.0.0.1:0", StateDir: filepath.Join(dir, "authority"), APIClientID: apiClientID,
		AutoApprove: true, Logger: cfg.logger,
	})
	if err != nil {
		return fmt.Errorf("demo: could not set up the development authority: %w", err)
	}
	if err := authority.Start(); err != nil {
		return fmt.Errorf("demo: could not start the development authority: %w", err)
	}
	defer func() { _ = authority.Shutdown(context.Background()) }()
	step("development authority  %s (its CA: %s)", authority.URL(), authority.CAFile())

	// 2. The secured server, validating the authority's tokens like `serve` does. The
	// authority's CA is trusted by this process's HTTP client only, never installed.
	httpClient, err := auth.NewHTTPClient(authority.CAFile())
	if err != nil {
		return err
	}
	defer httpClient.CloseIdleConnections() // before the authority's shutdown, which waits for them
	// The same verifier set-up as `serve`: discovery, then the key set, fetched at once.
	verifier, err := auth.NewServerVerifier(ctx, auth.ServerVerifierConfig{
		Authority: authority.URL(), Audiences: auth.DefaultAudiences(apiClientID, ""),
		HTTPClient: httpClient, Logger: cfg.logger,
	})
	if err != nil {
		// CLI.md: an authority that cannot be reached is exit 4, even one in-process.
		return withCode(ExitUnreachable, fmt.Errorf("demo: %w", err))
	}
	defer verifier.Close()
	// Loopback and a free port: the demo server is reachable from this machine only and
	// never clashes with a `serve` on :8000. Listening first gives the URL to publish.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: could not listen on loopback: %w", err)
	}
	serverURL := "http://" + ln.Addr().String() + "/mcp"
	handler, err := mcpserver.Handler(mcpserver.Config{
		Verifier: verifier.Verify, RequiredScopes: []string{auth.DefaultScopeName}, ScopePrefix: auth.AppIDURI(apiClientID, ""), PublicURL: serverURL, Path: "/mcp",
		AuthorizationServers: []string{verifier.AuthorizationServer}, ProgressInterval: cfg.interval, Logger: cfg.logger,
	})
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() {
		served <- mcpserver.ListenAndServe(ctx, handler, mcpserver.ServeConfig{Listener: ln, ShutdownTimeout: 5 * time.Second}, cfg.logger)
	}()
	step("secured MCP server     %s (required scope: execute)", serverURL)

	// 3. A request without a token is refused, the way MCP clients discover where to sign in.
	// Success here is a failure of the demo: it would mean the server is not secured.
	if _, err := mcpclient.Connect(ctx, mcpclient.Config{Server: serverURL}); err != nil {
		var ae *mcpclient.AuthError
		if !errors.As(err, &ae) {
			return fmt.Errorf("demo: expected a 401 without a token, got: %w", err)
		}
		step("no token               refused: %d, resource metadata at %s", ae.Status, ae.ResourceMetadata)
	} else {
		return errors.New("demo: the server accepted a request without a token")
	}

	// 4. Sign in through the real login code path: MSAL Go, device code flow. The prompt
	// goes to out, indented, since in the demo it is one of the steps shown.
	login, err := auth.NewLogin(auth.LoginConfig{
		Authority: authority.URL(), ClientID: "fastmcp-demo-cli",
		Scopes:    []string{auth.FullScope(auth.AppIDURI(apiClientID, ""), auth.DefaultScopeName)},
		CacheFile: filepath.Join(dir, "cache", "token_cache.json"), HTTPClient: httpClient,
		// A plain file in the temporary directory: a key in the OS store would outlive the
		// demo, which must touch nothing of the user's.
		CacheStore: auth.CacheStoreFile,
		Prompt:     prefixWriter{w: cfg.out, prefix: "                       "}, Logger: cfg.logger,
	})
	if err != nil {
		return err
	}
	tok, err := login.DeviceCode(ctx)
	if err != nil {
		return withCode(ExitAuth, fmt.Errorf("demo: sign-in failed: %w", err))
	}
	step("signed in              %s, token valid until %s (device code flow, auto-approved)", tok.Username, tok.ExpiresOn.Format(time.Kitchen))
	// A silent sign-in right after proves the cache file round-trips through MSAL, the path
	// `token`, `tools` and `call` take on every later run.
	if again, err := login.Silent(ctx); err != nil || again.AccessToken == "" {
		return withCode(ExitAuth, fmt.Errorf("demo: the cached token was not found again: %v", err))
	}
	cacheInfo, err := os.Stat(login.CacheFile())
	if err != nil {
		return fmt.Errorf("demo: the token cache was not written: %w", err)
	}
	step("token cache            silent sign-in served from %s (mode %v)", filepath.Base(login.CacheFile()), cacheInfo.Mode().Perm())

	// 5. The MCP client: list the tools, call reverse_tool with live progress.
	client, err := mcpclient.Connect(ctx, mcpclient.Config{Server: serverURL, Token: auth.NewLoginSupply(login, tok)})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer client.Close()
	tools, err := client.ListTools(ctx)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	names := make([]string, 0, len(tools))
	for _, t := range tools {
		names = append(names, t.Name)
	}
	step("tools/list             %s", strings.Join(names, ", "))
	res, err := client.CallTool(ctx, "reverse_tool", map[string]any{"query": cfg.query}, func(p mcpclient.Progress) {
		step("  progress %.0f/%.0f       %s", p.Progress, p.Total, p.Message)
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if res.IsError {
		return fmt.Errorf("demo: reverse_tool failed: %s", contentText(res.Content))
	}
	out, _ := json.Marshal(res.StructuredContent)
	step("tools/call reverse_tool %q -> %s", cfg.query, out)

	// Close the session, then stop the server and wait for its graceful shutdown, so a
	// server error is reported before "done" rather than lost.
	client.Close()
	cancel()
	if err := <-served; err != nil {
		return fmt.Errorf("demo: server: %w", err)
	}
	step("done: the whole flow worked")
	return nil
}

// prefixWriter indents what MSAL's device prompt prints so it reads as part of a step.
type prefixWriter struct {
	w      io.Writer
	prefix string
}

// Write prefixes each line of b. It reports len(b) on success, as io.Writer requires,
// although more bytes reach w.
func (p prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if _, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, line); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
