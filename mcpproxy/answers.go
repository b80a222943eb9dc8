package mcpproxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"

	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// rpcError is a JSON-RPC error object the proxy writes itself. Data carries httpStatus and,
// from the challenge, error and scope (see the Code constants), so a program can act on the
// failure without parsing Message.
type rpcError struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data,omitempty"`
	// userAction marks a failure only the user can fix (an On-Behalf-Of exchange that needs
	// consent or a new sign-in): a tools/call gets it as a tool result with isError, which
	// hosts show to the user and the model, rather than as a protocol error they may hide.
	userAction bool
}

// Error returns the message, which says what to do next.
func (e *rpcError) Error() string { return e.Message }

// authError is the answer to a 401 the proxy could not recover from. The server's
// error_description (e.g. "token expired at ...") is relayed: it names the reason and never
// holds the token.
func authError(ch challenge, next string) *rpcError {
	reason := ""
	if ch.Description != "" {
		reason = " (" + ch.Description + ")"
	} else if ch.Error != "" {
		reason = " (" + ch.Error + ")"
	}
	data := map[string]any{"httpStatus": http.StatusUnauthorized}
	if ch.Error != "" {
		data["error"] = ch.Error
	}
	return &rpcError{
		Code:    CodeUnauthorized,
		Message: fmt.Sprintf("not signed in: the MCP server rejected the access token%s; %s", reason, next),
		Data:    data,
	}
}

// forbiddenError is the answer to a 403: a missing scope when the challenge says so, else the
// server's reason (a session bound to another user, a rejected Host or Origin).
func forbiddenError(ch challenge, snippet string) *rpcError {
	data := map[string]any{"httpStatus": http.StatusForbidden}
	if ch.Error != "" {
		data["error"] = ch.Error
	}
	if ch.Error == "insufficient_scope" || (ch.Error == "" && ch.Scope != "") {
		data["scope"] = ch.Scope
		return &rpcError{
			Code: CodeForbidden,
			Message: fmt.Sprintf("forbidden: the access token lacks the scope %q the MCP server requires; "+
				"run `fastmcp-auth login --scope %s --force`, or ask an administrator to grant it",
				ch.Scope, loginScope(firstWord(ch.Scope))),
			Data: data,
		}
	}
	return &rpcError{Code: CodeForbidden, Message: "forbidden: the MCP server refused the request" + snippet, Data: data}
}

// firstWord is the first scope of a space-separated list, for the suggested login command.
func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

// loginScope is the --scope to suggest: the challenge's scope when it is already full
// (<app-id-uri>/execute, what serve advertises), else the short name under a placeholder.
func loginScope(s string) string {
	if strings.Contains(s, "/") {
		return s
	}
	return "<app-id-uri>/" + s
}

// unreachable is the answer when the server could not be reached at all.
func (p *proxy) unreachable(err error) *rpcError {
	err = netx.Cause(err) // the message names the server once
	if errors.Is(err, netx.ErrCrossOriginRedirect) {
		return &rpcError{Code: CodeUpstream, Message: fmt.Sprintf("the MCP server at %s: %v", p.cfg.Server, err)}
	}
	return &rpcError{
		Code: CodeUnreachable,
		Message: fmt.Sprintf("could not reach the MCP server at %s (%v): check that it is running; the proxy reconnects on the next request",
			p.cfg.Server, err),
	}
}

// bodySnippet returns ": <first line of the body>" (at most 200 printable characters) and
// closes the body; "" for an empty body.
func bodySnippet(resp *http.Response) string {
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	s = strings.Map(func(r rune) rune {
		// Only printable characters: a hostile body cannot put control sequences into the
		// client's display through the error message.
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		return ""
	}
	return ": " + s
}

// discard drains a little of the body, so the connection can be reused, and closes it.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
}
