package mcpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ServeConfig configures [ListenAndServe].
type ServeConfig struct {
	// Addr is the listen address, host:port (port 0 picks a free one; see Ready).
	Addr string
	// Listener, when set, is served instead of listening on Addr (the caller listened
	// first, e.g. to learn the port before building the handler). It is closed on return.
	Listener net.Listener
	// TLSCert and TLSKey are PEM files; both set serves HTTPS, both empty plain HTTP.
	TLSCert, TLSKey string
	// TLSCertificate, when set, is served over HTTPS instead of loading TLSCert and TLSKey:
	// the caller loaded and checked the pair with its other settings, so that a bad file fails
	// before anything else starts.
	TLSCertificate *tls.Certificate
	// ShutdownTimeout bounds the wait for in-flight requests once ctx ends; default 10s.
	ShutdownTimeout time.Duration
	// Ready, when set, is called with the bound address once the listener accepts.
	Ready func(net.Addr)
}

// Timeouts and limits of the http.Server.
const (
	// readHeaderTimeout stops clients that open connections and trickle headers
	// (slowloris). There is no write timeout: event streams stay open for minutes.
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	// maxHeaderBytes leaves room for a 16 KiB token and then some.
	maxHeaderBytes         = 64 << 10
	defaultShutdownTimeout = 10 * time.Second
	// streamGrace is how long the standalone event streams outlive the last answered call
	// at shutdown (see ListenAndServe).
	streamGrace = 250 * time.Millisecond
)

// ListenAndServe serves h on sc.Addr until ctx ends, then shuts down gracefully: it stops
// accepting, closes idle connections and the standalone event streams (GET), and lets
// in-flight requests such as a running tool call finish, for at most sc.ShutdownTimeout
// before closing what remains. It returns nil after a shutdown caused by ctx.
func ListenAndServe(ctx context.Context, h http.Handler, sc ServeConfig, logger *slog.Logger) error {
	if logger == nil {
		logger = discardLogger()
	}
	if sc.ShutdownTimeout <= 0 {
		sc.ShutdownTimeout = defaultShutdownTimeout
	}
	var tlsConfig *tls.Config
	switch {
	case sc.TLSCertificate != nil:
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{*sc.TLSCertificate}, MinVersion: tls.VersionTLS12}
	case sc.TLSCert != "" && sc.TLSKey != "":
		cert, err := tls.LoadX509KeyPair(sc.TLSCert, sc.TLSKey)
		if err != nil {
			closeListener(sc.Listener)
			return fmt.Errorf("could not load the TLS key pair %s, %s: %w", sc.TLSCert, sc.TLSKey, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	case sc.TLSCert != "" || sc.TLSKey != "":
		closeListener(sc.Listener)
		return errors.New("a TLS certificate and a TLS key must be given together")
	}

	stopping, stopStreams := context.WithCancel(context.Background())
	defer stopStreams()
	var calls atomic.Int64 // requests in flight, event streams excepted
	fresh := &freshConns{conns: map[net.Conn]struct{}{}}
	srv := &http.Server{
		Handler:           trackRequests(stopping, &calls, h),
		ConnState:         fresh.track,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		TLSConfig:         tlsConfig,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}

	ln := sc.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", sc.Addr); err != nil {
			return fmt.Errorf("could not listen on %s: %w", sc.Addr, err)
		}
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if sc.Ready != nil {
		sc.Ready(ln.Addr())
	}

	select {
	case err := <-errc:
		return fmt.Errorf("server stopped: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", sc.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), sc.ShutdownTimeout)
	defer cancel()
	// Shutdown closes the listener and the idle connections at once, then waits for the
	// active ones. The standalone event streams never end by themselves, and ending them
	// first would make a client drop its session with a call still running, so they are
	// ended only once the last call has answered (or the timeout is near).
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(sctx) }()
	// Shutdown treats a connection that has not sent a request yet as busy for its first 5
	// seconds (clients open spare keep-alive connections); nothing is in flight on it, so it
	// is closed rather than waited for.
	fresh.closeAll()
	for calls.Load() > 0 && sctx.Err() == nil {
		select {
		case <-sctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The last answers have been handed to their connections, but a client reads them on one
	// connection and sees its event stream end on another: the go-sdk client, when the end
	// comes first, drops the session with the answer unread (seen once in CI as "standalone SSE
	// stream: exceeded 0 retries" failing an answered call). A short grace lets it read them.
	select {
	case <-sctx.Done():
	case <-time.After(streamGrace):
	}
	stopStreams()
	if err := <-shutdown; err != nil {
		logger.Warn("shutdown timed out: closing the remaining connections", "timeout", sc.ShutdownTimeout)
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server stopped: %w", err)
	}
	return nil
}

// trackRequests counts the requests in flight in calls, except the standalone event streams
// (GET with Accept text/event-stream), whose context it ends once stopping ends.
func trackRequests(stopping context.Context, calls *atomic.Int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			calls.Add(1)
			defer calls.Add(-1)
			h.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(stopping, cancel)
		defer stop()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

func closeListener(ln net.Listener) {
	if ln != nil {
		_ = ln.Close()
	}
}

// freshConns tracks the connections that have not yet sent a request (http.StateNew).
type freshConns struct {
	mu      sync.Mutex
	closing bool
	conns   map[net.Conn]struct{}
}

// track is the http.Server ConnState hook.
func (f *freshConns) track(c net.Conn, state http.ConnState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if state != http.StateNew {
		delete(f.conns, c)
		return
	}
	if f.closing {
		_ = c.Close()
		return
	}
	f.conns[c] = struct{}{}
}

// closeAll closes the tracked connections, and any that arrives later.
func (f *freshConns) closeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closing = true
	for c := range f.conns {
		_ = c.Close()
	}
	clear(f.conns)
}
