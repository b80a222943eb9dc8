package mcpclient

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseWWWAuthenticate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		header     string
		wantScheme string
		want       map[string]string
	}{
		{"empty", "", "", map[string]string{}},
		{"scheme only", "Bearer", "Bearer", map[string]string{}},
		{"go-sdk style", `Bearer resource_metadata="http://h/.well-known/oauth-protected-resource", scope="execute"`,
			"Bearer", map[string]string{"resource_metadata": "http://h/.well-known/oauth-protected-resource", "scope": "execute"}},
		{"rfc 6750 example", `Bearer realm="example", error="invalid_token", error_description="The access token expired"`,
			"Bearer", map[string]string{"realm": "example", "error": "invalid_token", "error_description": "The access token expired"}},
		{"unquoted token value, upper-case name", `Bearer ERROR=insufficient_scope,scope="a b"`,
			"Bearer", map[string]string{"error": "insufficient_scope", "scope": "a b"}},
		{"escaped quote and comma inside", `Bearer error_description="say \"no\", please"`,
			"Bearer", map[string]string{"error_description": `say "no", please`}},
		{"second challenge ignored", `Bearer scope="x", Basic realm="y"`,
			"Bearer", map[string]string{"scope": "x"}},
		{"first value of a repeated name wins", `Bearer scope="x", scope="y"`,
			"Bearer", map[string]string{"scope": "x"}},
		{"unterminated quote", `Bearer error="invalid_token`,
			"Bearer", map[string]string{"error": "invalid_token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			scheme, params := ParseWWWAuthenticate(tt.header)
			if scheme != tt.wantScheme {
				t.Errorf("scheme = %q, want %q", scheme, tt.wantScheme)
			}
			if diff := cmp.Diff(tt.want, params); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuthErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *AuthError
		want []string // substrings
	}{
		{"no token", newAuthError(401, `Bearer resource_metadata="m", scope="execute"`, ""),
			[]string{"HTTP 401", "run fastmcp-auth login"}},
		{"expired", newAuthError(401, `Bearer error="invalid_token", error_description="token expired at 2026-01-02T15:04:05Z"`, "ignored"),
			[]string{"HTTP 401 invalid_token: token expired at 2026-01-02T15:04:05Z", "run fastmcp-auth login"}},
		{"missing scope", newAuthError(403, `Bearer error="insufficient_scope", scope="execute"`, ""),
			[]string{"HTTP 403 insufficient_scope", "missing scope: execute", "--scope"}},
		{"several required scopes: each one asked for", newAuthError(403, `Bearer error="insufficient_scope", scope="execute admin"`, ""),
			[]string{"missing scope: execute admin", "login --force --scope <app-id-uri>/execute --scope <app-id-uri>/admin and pass the same --scope"}},
		{"full scope kept", newAuthError(403, `Bearer error="insufficient_scope", scope="https://x.example/read"`, ""),
			[]string{"--scope https://x.example/read and"}},
		{"go-sdk 403 without error code", newAuthError(403, `Bearer scope="execute"`, "insufficient scope\n"),
			[]string{"missing scope: execute", "insufficient scope"}},
		{"bare 403, body sanitized", newAuthError(403, "", "Forbidden: invalid Host header\x1b[2J\nsecond line"),
			[]string{"HTTP 403 Forbidden: invalid Host header[2J)", "check --server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := tt.err.Error()
			if strings.ContainsAny(msg, "\n\x1b") {
				t.Errorf("message has a newline or escape: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestSSETee(t *testing.T) {
	t.Parallel()
	stream := "event: message\r\nid: 1\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"a\",\"progress\":1}}\r\n\r\n" +
		": comment\n\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\n" +
		"data: \"params\":{\"progressToken\":\"b\"}}\n\n" +
		"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":7}}\n\n" +
		"data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"note\":\"notifications/progress\"}}\n\n"
	for _, chunk := range []int{1, 2, 3, 7, 64, len(stream)} {
		t.Run("chunk", func(t *testing.T) {
			t.Parallel()
			var got []string
			w := &watcher{onProgressSeen: func(tok string) { got = append(got, tok) }}
			tee := &sseTee{onEvent: w.sawEvent}
			for i := 0; i < len(stream); i += chunk {
				tee.feed([]byte(stream[i:min(i+chunk, len(stream))]))
			}
			if diff := cmp.Diff([]string{"a", "b"}, got); diff != "" {
				t.Errorf("chunk %d: tokens (-want +got):\n%s", chunk, diff)
			}
		})
	}
}
