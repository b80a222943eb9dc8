// Package httpx holds small HTTP helpers shared by the servers of fastmcp-auth (the MCP
// server, the development authority) and its load generator and tests, so that each exists once.
package httpx

import "net/http"

// StatusRecorder is an http.ResponseWriter that remembers the status code its handler sent,
// for request logs. Unwrap lets http.ResponseController (which the MCP SDK uses to flush
// event streams) reach the real writer, and Flush passes flushes through.
type StatusRecorder struct {
	http.ResponseWriter
	status int
}

// NewStatusRecorder wraps w.
func NewStatusRecorder(w http.ResponseWriter) *StatusRecorder {
	return &StatusRecorder{ResponseWriter: w}
}

// Status is the status code sent: the first WriteHeader's, 200 once a body or a flush went
// out without one, and 200 when nothing was written (what net/http then sends).
func (s *StatusRecorder) Status() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// WriteHeader records the first code and passes code on.
func (s *StatusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and passes b on.
func (s *StatusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Flush passes a flush through, for event streams.
func (s *StatusRecorder) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap returns the underlying writer.
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
