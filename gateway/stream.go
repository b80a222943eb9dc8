package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// stream is one server-sent event stream to the client: the answer stream of a POST (it ends
// once every request of the POST is answered) or the standalone stream of a GET (it ends when
// the session does, or a newer GET replaces it). Messages are queued without blocking the
// upstream reader, and written by the HTTP handler's goroutine.
type stream struct {
	mu sync.Mutex
	// queue is unbounded on purpose: the upstream's reader must never block on a slow
	// client (it serves every call of the session). A POST stream holds only what its own
	// calls caused, and the standalone stream's backlog is bounded by the session.
	queue     [][]byte
	remaining int           // answers still expected; -1 for a standalone stream
	closed    bool          // no more messages will be written
	wake      chan struct{} // one slot: a pending wake-up is enough, however many pushes
}

// newStream returns a stream that ends after expected answers (-1: never by itself).
func newStream(expected int) *stream {
	return &stream{remaining: expected, wake: make(chan struct{}, 1)}
}

// push queues msg; answer says it is the answer to one of the stream's requests. It reports
// false when the stream is already closed (the client went away): the caller may route the
// message elsewhere.
func (st *stream) push(msg []byte, answer bool) bool {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return false
	}
	st.queue = append(st.queue, msg)
	if answer && st.remaining > 0 {
		st.remaining--
	}
	st.mu.Unlock()
	st.signal()
	return true
}

// close ends the stream once its queue is written.
func (st *stream) close() {
	st.mu.Lock()
	st.remaining = 0
	st.mu.Unlock()
	st.signal()
}

// signal wakes run without blocking: when a wake-up is already pending, run will see this
// message too.
func (st *stream) signal() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// headerDelay is how long an answer stream (a POST's) may hold back its response headers
// while it waits for its first message. Most calls are answered well within it; their headers,
// events and the end of the body then leave in one write when the handler returns, instead of
// three flushed writes (headers, events, end), which woke the client three times per call. A
// slower call gets its headers at this point, so that the client and any proxy between know
// the stream is open.
const headerDelay = 50 * time.Millisecond

// run writes the queued messages as SSE events until the stream is complete or ctx ends (the
// client disconnected, or the server is stopping). Headers must already be set.
func (st *stream) run(ctx context.Context, w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	st.mu.Lock()
	standalone := st.remaining < 0
	st.mu.Unlock()
	// A standalone stream may stay silent for the whole session: its headers go at once.
	var headerC <-chan time.Time
	if standalone {
		_ = rc.Flush()
	} else {
		t := time.NewTimer(headerDelay)
		defer t.Stop()
		headerC = t.C
	}
	defer func() {
		st.mu.Lock()
		st.closed = true
		st.queue = nil
		st.mu.Unlock()
	}()
	for {
		st.mu.Lock()
		batch := st.queue
		st.queue = nil
		done := st.remaining == 0
		st.mu.Unlock()
		for _, msg := range batch {
			// Each message is one line of JSON (see compact and the stdio framing), so one data
			// field carries it.
			if _, err := w.Write(append(append([]byte("event: message\ndata: "), msg...), '\n', '\n')); err != nil {
				return
			}
		}
		if done {
			st.mu.Lock()
			// Messages pushed between the check and here are written before ending.
			more := len(st.queue) > 0
			if !more {
				st.closed = true
			}
			st.mu.Unlock()
			if !more {
				// Returning ends the response: net/http writes what is buffered (the headers too,
				// if still held back) and the end of the body, and flushes once.
				return
			}
			continue
		}
		if len(batch) > 0 {
			if err := rc.Flush(); err != nil {
				return
			}
			headerC = nil
		}
		select {
		case <-st.wake:
		case <-headerC:
			headerC = nil
			if err := rc.Flush(); err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}
