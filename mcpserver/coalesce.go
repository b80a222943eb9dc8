package mcpserver

import (
	"net/http"
	"sync"
)

// coalesceFlushes lets the events of one POST's answer stream leave in as few writes as the
// scheduler allows.
//
// The go-sdk writes each event of a POST's stream (every progress notification, then the
// answer) and flushes it at once from the tool's goroutine: a quick call with five progress
// steps costs seven writes to the socket, which at 1,000 calls/s were a quarter of the
// server's CPU (on loopback a write also delivers to the reader). Here a flush only wakes a
// per-request flusher goroutine. The tool's goroutine goes on writing into net/http's buffer;
// the flusher sends what is there when it next runs, which is at once when a processor is free
// (the event is not held back) and, when the tool does not wait between events, after it has
// written them all. When the handler returns, net/http's own final flush sends whatever is
// left together with the end of the body. Writes and flushes are serialized: the
// ResponseWriter is not safe for concurrent use.
func coalesceFlushes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		cw := &coalescingWriter{ResponseWriter: w, kick: make(chan struct{}, 1)}
		go cw.flusher()
		defer cw.stop()
		next.ServeHTTP(cw, r)
	})
}

// coalescingWriter is the ResponseWriter coalesceFlushes hands to the SDK.
type coalescingWriter struct {
	http.ResponseWriter
	mu      sync.Mutex
	stopped bool
	kick    chan struct{} // a flush is wanted; capacity 1, so requests merge
}

// flusher flushes once per kick until stop.
func (c *coalescingWriter) flusher() {
	for range c.kick {
		c.mu.Lock()
		if !c.stopped {
			_ = http.NewResponseController(c.ResponseWriter).Flush()
		}
		c.mu.Unlock()
	}
}

// stop ends the flusher: after the handler returns, net/http flushes what is left, and no one
// may touch the writer any more. Once stopped is set (after a flush in progress, which holds
// mu) the flusher never does, so stop does not wait for it to be scheduled and exit: on a busy
// server that wait would hold every answer behind the whole run queue.
func (c *coalescingWriter) stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
	close(c.kick)
}

// Write passes b on.
func (c *coalescingWriter) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ResponseWriter.Write(b)
}

// WriteHeader passes code on.
func (c *coalescingWriter) WriteHeader(code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ResponseWriter.WriteHeader(code)
}

// Flush asks the flusher for a flush; it does not wait for it.
func (c *coalescingWriter) Flush() {
	select {
	case c.kick <- struct{}{}:
	default: // one is already pending: it will send this event too
	}
}

// Unwrap gives http.ResponseController the real writer for its other controls (deadlines).
func (c *coalescingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
