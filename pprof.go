//go:build pprof

package main

// Built only with `go build -tags pprof`: serves net/http/pprof on FASTMCP_AUTH_PPROF_ADDR
// (loopback) so that load runs can be profiled. Release builds do not contain it.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("FASTMCP_AUTH_PPROF_ADDR"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
