package gateway

import (
	"errors"
	"io"
	"sync"
)

// lineInput is the input of an upstream that reads newline-delimited JSON-RPC messages: a
// child's stdin, or the pipe into an HTTP upstream's relay. Writes are serialized, so two
// sessions' messages never interleave within a line, and once closing has begun no write is
// accepted, so a message cannot land on a closed pipe or a dying child.
type lineInput struct {
	w io.WriteCloser
	// closingErr is the error text of a send after closing began (it names the upstream kind).
	closingErr string

	mu      sync.Mutex // serializes writes, and closing
	closing bool
}

// send writes msg and a newline, or fails once closing has begun.
func (l *lineInput) send(msg []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return errors.New(l.closingErr)
	}
	buf := make([]byte, 0, len(msg)+1)
	buf = append(append(buf, msg...), '\n')
	_, err := l.w.Write(buf)
	return err
}

// close begins closing: it closes the input (the upstream then sees end of file) and reports
// whether this call was the first; later calls do nothing and report false.
func (l *lineInput) close() (first bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing {
		return false
	}
	l.closing = true
	_ = l.w.Close()
	return true
}

// isClosing reports whether closing has begun: an upstream ending after that was asked to.
func (l *lineInput) isClosing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closing
}
