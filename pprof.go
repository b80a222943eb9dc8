//go:build pprof

package main

// Built only with `go build -tags pprof`: serves net/http/pprof on FASTMCP_AUTH_PPROF_ADDR so
// that load runs can be profiled. Release builds do not contain it. The profiles expose
// memory contents (heap profiles hold strings, and so may hold tokens), so the address must be
// a loopback one: anything else is refused with a message on stderr, and nothing is served.

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

func init() {
	addr := os.Getenv("FASTMCP_AUTH_PPROF_ADDR")
	if addr == "" {
		return
	}
	if err := checkLoopback(addr); err != nil {
		fmt.Fprintf(os.Stderr, "error: FASTMCP_AUTH_PPROF_ADDR: %v: not serving pprof\n", err)
		return
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: FASTMCP_AUTH_PPROF_ADDR: %v: not serving pprof\n", err)
		return
	}
	// A mux of its own rather than http.DefaultServeMux, so that only these routes are served
	// whatever else a dependency registers there.
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{
		Handler: mux,
		// As for serve: a client that never finishes its headers must not hold a connection.
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
}

// checkLoopback accepts host:port addresses whose host is loopback, by the project's one rule
// (netx.IsLoopbackHost: "localhost" or a loopback IP).
func checkLoopback(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%q is not host:port (use 127.0.0.1:6060)", addr)
	}
	if !netx.IsLoopbackHost(addr) {
		return errors.New("pprof binds loopback only: use 127.0.0.1:PORT or [::1]:PORT, not " + addr)
	}
	return nil
}
