package mcpproxy

import (
	"bytes"
	"encoding/json"
	"io"
	"sync"
	"time"
)

// lineWriter writes messages to stdout, one a line, whole, in the order they are given.
// lastProgress is when the last progress notification was written, reset once a response has
// waited out the gap; buf is reused between writes.
type lineWriter struct {
	mu           sync.Mutex
	w            io.Writer
	gap          time.Duration
	lastProgress time.Time
	buf          []byte
}

// write writes one message and a newline. A response that follows a progress notification by
// less than the gap waits for the rest of it (see [Config.ProgressGap]). Multi-line JSON (SSE
// data may span lines) is compacted, since a newline ends a message on stdio.
func (lw *lineWriter) write(msg []byte, env *envelope) {
	// One mutex for the whole write: lines from concurrent streams never interleave, and
	// the progress gap delays only the response that follows a progress notification.
	lw.mu.Lock()
	defer lw.mu.Unlock()
	if lw.gap > 0 && env.IsResponse() && !lw.lastProgress.IsZero() {
		if d := lw.gap - time.Since(lw.lastProgress); d > 0 {
			time.Sleep(d)
		}
		lw.lastProgress = time.Time{}
	}
	lw.buf = lw.buf[:0]
	if bytes.ContainsAny(msg, "\r\n") {
		var b bytes.Buffer
		if json.Compact(&b, msg) == nil {
			msg = b.Bytes()
		}
	}
	lw.buf = append(append(lw.buf, msg...), '\n')
	// A write error means the client is gone; the read loop sees EOF and ends the run.
	_, _ = lw.w.Write(lw.buf)
	if env.Method == methodProgress {
		lw.lastProgress = time.Now()
	}
}
