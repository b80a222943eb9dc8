// Package progress shows the progress notifications of a tool call on a terminal or in a log:
// a bar that redraws itself, or one plain (or JSON) line per notification. The text the
// server chose is stripped of control characters before a person sees it.
package progress

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/schollz/progressbar/v3"
)

// Modes of a Reporter.
const (
	// Bar redraws one line with carriage returns: for terminals.
	Bar = "bar"
	// Plain writes one line per notification: for logs and pipes.
	Plain = "plain"
)

// Reporter shows the progress of one call. It is safe for concurrent use: notifications
// arrive on the client's goroutine while Finish runs on the caller's.
type Reporter struct {
	mu     sync.Mutex
	w      io.Writer
	mode   string // Bar or Plain
	asJSON bool
	bar    *progressbar.ProgressBar
	gate   *mutedWriter // the bar's writer: lets one update draw once
}

// mutedWriter passes writes to w unless muted. The bar draws itself both when its value
// changes and when its description does; an update changes both, and drawn twice the first
// drawing shows the new count beside the old percentage. Muting the first leaves one
// drawing per update, with both new.
type mutedWriter struct {
	w     io.Writer
	muted bool
}

func (m *mutedWriter) Write(p []byte) (int, error) {
	if m.muted {
		return len(p), nil
	}
	return m.w.Write(p)
}

// New returns a reporter writing to w in mode Bar or Plain; with asJSON, Plain lines are JSON
// objects {"progress", "total", "message"} with the server's text as sent.
func New(w io.Writer, mode string, asJSON bool) *Reporter {
	return &Reporter{w: w, mode: mode, asJSON: asJSON}
}

// barScale is the resolution of the bar: progress is shown as a fraction of the total.
const barScale = 1000

// Update shows one progress notification (total 0 when unknown): a plain line
// "progress 3/5: message", a JSON line, or the bar with the server's message.
func (r *Reporter) Update(progress, total float64, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The server chooses the message: strip control characters before a person sees it.
	// The JSON line, meant for programs, keeps the server's text as sent.
	msg := SanitizeTerminal(message)
	switch {
	case r.mode == Plain && r.asJSON:
		line, _ := json.Marshal(struct {
			Progress float64 `json:"progress"`
			Total    float64 `json:"total,omitempty"`
			Message  string  `json:"message,omitempty"`
		}{progress, total, message})
		fmt.Fprintf(r.w, "%s\n", line)
	case r.mode == Plain:
		line := "progress " + format(progress, total)
		if msg != "" {
			line += ": " + msg
		}
		fmt.Fprintln(r.w, line) // one write per line, so that lines never interleave
	default:
		if r.bar == nil {
			size := int64(-1) // spinner while the total is unknown
			if total > 0 {
				size = barScale
			}
			r.gate = &mutedWriter{w: r.w}
			r.bar = progressbar.NewOptions64(size,
				progressbar.OptionSetWriter(r.gate),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(0),
				progressbar.OptionSetPredictTime(false),
				progressbar.OptionShowDescriptionAtLineEnd(),
			)
		}
		// The value first, not drawn; then the description, whose drawing shows both.
		r.gate.muted = true
		if total > 0 {
			// Capped: a server reporting past its total must not overflow the bar.
			_ = r.bar.Set64(min(int64(progress/total*barScale), barScale))
		} else {
			_ = r.bar.Add64(1)
		}
		r.gate.muted = false
		r.bar.Describe(strings.TrimSpace(format(progress, total) + " " + msg))
	}
}

// Finish ends the bar's line, leaving its last state visible above what follows.
func (r *Reporter) Finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bar != nil {
		_ = r.bar.RenderBlank() // draw the last state even if throttled
		fmt.Fprintln(r.w)
		r.bar = nil
	}
}

// format renders "3/5", or "3" when the total is unknown.
func format(progress, total float64) string {
	if total > 0 {
		return fmt.Sprintf("%g/%g", progress, total)
	}
	return fmt.Sprintf("%g", progress)
}

// SanitizeTerminal removes control characters from server text before it reaches a
// terminal, so that a server cannot move the cursor or rewrite what the user sees. The result
// is one line: newlines and tabs go too.
func SanitizeTerminal(s string) string {
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return -1
		}
		return r
	}, s)
}

// SanitizeText is SanitizeTerminal for text of several lines (a tool's text content): it
// keeps newlines and tabs, which only move the cursor forward, and removes every other
// control character, carriage returns included (a "\r" would let a line overwrite itself).
func SanitizeText(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && isControl(r) {
			return -1
		}
		return r
	}, s)
}

// isControl reports the C0 controls, DEL and the C1 range (0x80-0x9f, where 0x9b is a
// one-byte CSI): what a terminal may interpret rather than show.
func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)
}
