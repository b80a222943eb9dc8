// Package jsonrpc reads the routing fields of a JSON-RPC 2.0 message, for the two relays that
// pass messages through unchanged: mcpproxy (stdio to Streamable HTTP) and the gateway
// (Streamable HTTP to a stdio or HTTP upstream). Both relay the bytes as received and read only
// enough to route them, so they share one reading of what a request and a response are.
package jsonrpc

import (
	"encoding/json"
	"errors"
)

// Envelope is what a relay reads of a JSON-RPC message: enough to route it. The message itself
// is relayed as received.
type Envelope struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
}

// Parse reads the routing fields of one message; a message with neither a method nor an id is
// not JSON-RPC.
func Parse(raw []byte) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, err
	}
	if e.Method == "" && !e.HasID() {
		return nil, errors.New("neither a method nor an id")
	}
	return &e, nil
}

// HasID reports an id other than null (null is the id of an error to an unreadable request).
func (e *Envelope) HasID() bool { return len(e.ID) > 0 && string(e.ID) != "null" }

// IsRequest reports a call expecting an answer.
func (e *Envelope) IsRequest() bool { return e.Method != "" && e.HasID() }

// IsResponse reports an answer (result or error).
func (e *Envelope) IsResponse() bool { return e.Method == "" && e.HasID() }
