// Command fastmcp-auth secures MCP servers with OAuth bearer tokens from Microsoft Entra ID
// (or any Entra-compatible authority) and is also their device-flow login and MCP client.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/fastmcp-auth/fastmcp-auth/commands"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := commands.Run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
