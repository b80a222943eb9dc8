// Copyright 2025 The Go MCP SDK Authors. All rights reserved.
// Use of this source code is governed by the license
// that can be found in the LICENSE file.

// Package json provides internal JSON utilities.

package json

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/segmentio/encoding/json"
)

// defaultMaxDepth is the maximum JSON nesting depth accepted by [Unmarshal].
// Realistic MCP payloads nest only a handful of levels, so 1000 is far more
// than any legitimate message requires while keeping worst-case parse cost
// bounded.
const defaultMaxDepth = 1000

// errMaxDepthExceeded is returned by [Unmarshal] when the input nests deeper than [defaultMaxDepth].
var errMaxDepthExceeded = fmt.Errorf("json: exceeded maximum nesting depth of %d", defaultMaxDepth)

type Decoder struct {
	dec *json.Decoder
}

func NewDecoder(r io.Reader) *Decoder {
	dec := json.NewDecoder(r)
	dec.DontMatchCaseInsensitiveStructFields()
	return &Decoder{dec: dec}
}

func (d *Decoder) Decode(v any) error {
	return d.dec.Decode(v)
}

// decodeFlags are the options [NewDecoder] sets, as flags for [json.Parse].
const decodeFlags = json.DontMatchCaseInsensitiveStructFields

// Unmarshal decodes the first JSON value in data into v. It behaves exactly
// like NewDecoder(bytes.NewReader(data)).Decode(v): same errors, same
// case-sensitive field matching, and bytes after the first value are ignored.
// It decodes a well-formed value straight from data, though: the streaming
// decoder allocates a buffer of at least 32 KiB per call and copies data into
// it, which made up most of the memory allocated per MCP request.
func Unmarshal(data []byte, v any) error {
	if err := checkMaxDepth(data, defaultMaxDepth); err != nil {
		return err
	}
	if value, ok := firstValue(data); ok {
		_, err := json.Parse(value, v, decodeFlags)
		return err
	}
	// Empty, incomplete or malformed: the decoder reports it in its own words
	// (io.EOF, io.ErrUnexpectedEOF or a syntax error), before it decodes
	// anything into v.
	return NewDecoder(bytes.NewReader(data)).Decode(v)
}

// firstValue returns the first JSON value in data, without the white space
// around it, if it is well formed. Like the decoder, it checks the syntax of
// the whole value before anything is decoded, so that a syntax error is
// reported in preference to a type mismatch earlier in the value.
func firstValue(data []byte) ([]byte, bool) {
	start := bytes.TrimLeft(data, " \t\r\n")
	if len(start) == 0 {
		return nil, false
	}
	// With a nil target, Parse only scans one value (as the decoder does
	// before decoding) and reports a well-formed one as an
	// InvalidUnmarshalError. rest is what follows the value and the white
	// space after it; no JSON value ends with white space.
	rest, err := json.Parse(start, nil, decodeFlags)
	var invalid *json.InvalidUnmarshalError
	if !errors.As(err, &invalid) || invalid.Type != nil {
		return nil, false
	}
	return bytes.TrimRight(start[:len(start)-len(rest)], " \t\r\n"), true
}

// checkMaxDepth scans data once and reports [errMaxDepthExceeded] if the
// nesting of JSON objects and arrays exceeds maxDepth. It is a lightweight pass which
// tracks '{' and '[' against '}' and ']' while skipping over the contents of strings.
func checkMaxDepth(data []byte, maxDepth int) error {
	var (
		depth    int
		inString bool
		escaped  bool
	)
	for _, b := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
			continue
		}

		switch b {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > maxDepth {
				return errMaxDepthExceeded
			}
		case '}', ']':
			if depth > 0 {
				depth--
			}
		}
	}
	return nil
}
