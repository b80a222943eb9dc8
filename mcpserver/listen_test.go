package mcpserver

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestShutdownDoesNotWaitForUnusedConnections: http.Server.Shutdown counts a connection that
// has sent no request yet as busy for 5 s; ListenAndServe closes such connections so that a
// client's spare keep-alive connection does not hold up the exit.
func TestShutdownDoesNotWaitForUnusedConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ListenAndServe(ctx, http.NotFoundHandler(), ServeConfig{Listener: ln, ShutdownTimeout: 20 * time.Second}, nil)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String()) // connected, but never sends a request
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	time.Sleep(100 * time.Millisecond) // let the server accept it
	cancel()
	// Shutdown must not wait for a connection that never sent a request.
	testenv.Returns(t, done, 4*time.Second, "ListenAndServe with an idle connection open")
	// The server closed it: a read ends at once.
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("the unused connection is still open")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("the unused connection is still open (read timed out)")
	}
}
