package commands

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// hostileText is server-chosen text with a colour, a window-title OSC ended by BEL, a
// clear-screen, a carriage return and the one-byte C1 CSI.
const hostileText = "first\x1b[31mRED\x1b]0;pwned\x07 problem\x1b[2J\r\u009bK"

// hasControl reports a control character other than newline in s.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)) })
}

// TestToolsTextSanitized: a tool's name and description reach the terminal without their
// control characters; --json (writeJSON) keeps the server's text, escaped by JSON.
func TestToolsTextSanitized(t *testing.T) {
	tools := []*mcp.Tool{{Name: "err\x1b[2J_tool", Description: hostileText + "\nsecond line"}}
	var out bytes.Buffer
	if err := writeToolsText(&out, tools); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("err[2J_tool  first[31mRED]0;pwned problem[2JK\n", out.String()); diff != "" {
		t.Errorf("tools text (-want +got):\n%s", diff)
	}
	out.Reset()
	if err := writeJSON(&out, tools); err != nil {
		t.Fatal(err)
	}
	// JSON escapes the C0 controls (not the C1 range, which it has no need to).
	if strings.ContainsAny(out.String(), "\x1b\x07\r") || !strings.Contains(out.String(), `\u001b[31mRED`) {
		t.Errorf("tools --json %q: want the server's text, JSON-escaped", out.String())
	}
}

// TestCallToolErrorSanitized: the text of a tool error reaches the terminal without its
// control characters, on stdout and in the error line.
func TestCallToolErrorSanitized(t *testing.T) {
	res := &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: hostileText}}}
	var stdout bytes.Buffer
	err := writeCallResult(&stdout, "err_tool", res, false)
	if ExitCode(err) != ExitFailure {
		t.Fatalf("exit %d (%v), want 1", ExitCode(err), err)
	}
	for name, s := range map[string]string{"stdout": stdout.String(), "error": err.Error()} {
		if hasControl(s) {
			t.Errorf("%s %q holds control characters", name, s)
		}
	}
	if !strings.Contains(err.Error(), "first[31mRED]0;pwned problem[2JK") {
		t.Errorf("error %q lacks the cleaned text", err)
	}
}

// TestCallToolError: a result with isError prints its text content on stdout as the result
// (CLI.md: "else the text content"; not with --json, which prints the whole result) and is
// exit 1 with one error line naming the tool and the message's first line, saying where the
// rest is when there is more.
func TestCallToolError(t *testing.T) {
	long := strings.Repeat("x", maxToolErrorSummary+10)
	tests := []struct {
		name, text string
		asJSON     bool
		wantStdout string
		wantErr    string
	}{
		{"one line", "min must not be greater than max", false,
			"min must not be greater than max\n", "tool t failed: min must not be greater than max"},
		{"several lines", "first problem\nsecond problem\n", false,
			"first problem\nsecond problem\n", "tool t failed: first problem; its whole message is on stdout"},
		{"long line", long, false,
			long + "\n", "tool t failed: " + long[:maxToolErrorSummary] + "…; its whole message is on stdout"},
		{"no text", "", false, "", "tool t failed with no message"},
		{"json", "first problem\nsecond problem", true,
			"", "tool t failed: first problem; the whole result is on stdout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: tt.text}}}
			var stdout bytes.Buffer
			err := writeCallResult(&stdout, "t", res, tt.asJSON)
			if ExitCode(err) != ExitFailure || err.Error() != tt.wantErr {
				t.Errorf("error %v (exit %d), want %q (exit 1)", err, ExitCode(err), tt.wantErr)
			}
			if tt.asJSON {
				if !strings.Contains(stdout.String(), `"isError": true`) {
					t.Errorf("--json stdout %q lacks the result object", stdout.String())
				}
				return
			}
			if diff := cmp.Diff(tt.wantStdout, stdout.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
		})
	}
}
