// Package jsonrpc reads the routing fields of a JSON-RPC 2.0 message, for the two relays that
// pass messages through unchanged: mcpproxy (stdio to Streamable HTTP) and the gateway
// (Streamable HTTP to a stdio or HTTP upstream). Both relay the bytes as received and read only
// enough to route them, so they share one reading of what a request and a response are.
package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
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

// IDKey normalizes an id (a request id or a progress token) so that an answer's id meets the
// request's however each side spelled it: strings by value ("\u0061" is "a"), numbers by
// their canonical form (1, 1.0 and 1e0 meet), and neither meets the other ("1" is not 1).
// A missing or null id has the key "".
func IDKey(id json.RawMessage) string {
	id = bytes.TrimSpace(id)
	if len(id) == 0 || string(id) == "null" {
		return ""
	}
	if id[0] == '"' {
		var s string
		if json.Unmarshal(id, &s) == nil {
			return "s:" + s
		}
	} else if f, err := strconv.ParseFloat(string(id), 64); err == nil {
		return "n:" + strconv.FormatFloat(f, 'g', -1, 64)
	}
	return "r:" + string(id)
}

// SplitBatch returns the messages of b, one message or a batch (a JSON array, protocol
// 2025-03-26), whose elements are relayed one by one. b must not be empty (trim it first).
// The messages share b's memory.
func SplitBatch(b []byte) ([][]byte, error) {
	if b[0] != '[' {
		return [][]byte{b}, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(b, &elems); err != nil {
		return nil, err
	}
	if len(elems) == 0 {
		return nil, errors.New("empty batch")
	}
	out := make([][]byte, len(elems))
	for i, e := range elems {
		out[i] = e
	}
	return out, nil
}
