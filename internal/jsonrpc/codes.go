package jsonrpc

// Error codes our relays answer with when only the user can fix what went wrong. They are
// implementation-defined server errors (JSON-RPC reserves -32000 to -32099 for them), chosen
// clear of -32001 to -32005 (the go-sdk's own) and of the codes MCP defines. mcpproxy answers a
// desktop host with them; the gateway answers a client whose On-Behalf-Of token could not be
// had; package mcpclient reads them as an authentication failure (exit 3), keeping the message,
// which says what to do.
const (
	// CodeUnauthorized: no usable token for the server (a 401, a failed sign-in, consent or
	// MFA needed for an On-Behalf-Of exchange).
	CodeUnauthorized = -32030
	// CodeForbidden: the token is valid but lacks a scope the server requires (403).
	CodeForbidden = -32031
)
