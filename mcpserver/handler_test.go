package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// initializeBody is a valid MCP initialize request.
const initializeBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

type answer struct {
	Status      int
	ContentType string
	Challenge   string
	Body        map[string]string
}

// do sends a request and returns the parts of the answer the tests compare.
func do(t *testing.T, method, url, token, body string, header map[string]string) (answer, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if strings.HasSuffix(url, "/mcp") {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Challenge: resp.Header.Get("WWW-Authenticate")}
	if strings.HasPrefix(a.ContentType, "application/json") {
		_ = json.Unmarshal(raw, &a.Body)
	}
	if token != "" && strings.Contains(string(raw), token) {
		t.Errorf("the response body echoes the token")
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			if token != "" && strings.Contains(v, token) {
				t.Errorf("header %s echoes the token", k)
			}
		}
	}
	return a, resp.Header
}

func TestBearerAnswers(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	prm := ts.URL + "/.well-known/oauth-protected-resource/mcp"
	// missing, invalid and insufficient are the three failing answers: 401 without an error
	// code, 401 invalid_token and 403 insufficient_scope, each with the challenge that names
	// the metadata and the scope, and the same description in the challenge and the body.
	missing := answer{Status: 401, ContentType: "application/json", Challenge: `Bearer resource_metadata="` + prm + `", scope="execute"`, Body: map[string]string{"error": "unauthorized", "error_description": "a bearer token is required: send Authorization: Bearer <token> (fastmcp-auth token prints one)"}}
	failed := func(status int, code, desc string) answer {
		return answer{Status: status, ContentType: "application/json", Challenge: `Bearer error="` + code + `", error_description="` + desc + `", resource_metadata="` + prm + `", scope="execute"`, Body: map[string]string{"error": code, "error_description": desc}}
	}
	invalid := func(desc string) answer { return failed(401, "invalid_token", desc) }
	insufficient := failed(403, "insufficient_scope", "the token lacks the scope execute: ask for execute when signing in, or have an administrator grant it")
	tests := []struct {
		name   string
		header string // Authorization, raw
		want   answer
		reason string
	}{
		{name: "no header", want: missing, reason: "missing_token"},
		{name: "basic scheme", header: "Basic YWxpY2U6cGFzcw==", want: missing, reason: "missing_token"},
		{name: "bearer without token", header: "Bearer ", want: missing, reason: "missing_token"},
		{name: "expired", header: "Bearer " + tokExpired, want: invalid("token expired at 2026-01-02T15:04:05Z"), reason: "expired"},
		{name: "wrong audience, lower-case scheme", header: "bearer " + tokAudience, want: invalid("token audience is not accepted"), reason: "wrong_audience"},
		{name: "garbage", header: "Bearer not-a-jwt", want: invalid("token is malformed"), reason: "malformed"},
		{name: "description with quotes is made safe", header: "Bearer " + tokQuotes, want: invalid("bad 'quoted' / thing ??"), reason: "malformed"},
		{name: "verifier backend error is not echoed", header: "Bearer " + tokBackend, want: invalid("the token could not be verified"), reason: "verifier_error"},
		{name: "verifier returns no identity", header: "Bearer " + tokNilID, want: invalid("the token could not be verified"), reason: "verifier_error"},
		{name: "missing scope", header: "Bearer " + tokNoScope, want: insufficient, reason: "insufficient_scope"},
		{name: "app-only token without the role", header: "Bearer " + tokAppNoRole, want: insufficient, reason: "insufficient_scope"},
		{name: "valid delegated token", header: "Bearer " + tokAlice, want: answer{Status: 200, ContentType: "text/event-stream"}},
		{name: "valid app-only token with the role", header: "Bearer " + tokApp, want: answer{Status: 200, ContentType: "text/event-stream"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := map[string]string{}
			if tt.header != "" {
				h["Authorization"] = tt.header
			}
			got, _ := do(t, http.MethodPost, ts.mcpURL, "", initializeBody, h)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
	t.Cleanup(func() {
		logs := ts.logs.String()
		for _, tt := range tests {
			if tt.reason != "" && !strings.Contains(logs, `"reason":"`+tt.reason+`"`) {
				t.Errorf("no request log line with reason %q", tt.reason)
			}
		}
		for _, tok := range []string{tokAlice, tokExpired, tokBackend, tokNoScope} {
			if strings.Contains(logs, tok) {
				t.Errorf("the log holds a token")
			}
		}
		if !strings.Contains(logs, "internal.example") {
			t.Errorf("the verifier's internal error was not logged server side")
		}
		if !strings.Contains(logs, `"subject":"alice-oid","tid":"tenant-1","azp":"cli-app","scopes":"execute read"`) {
			t.Errorf("no request log line with alice's subject, tenant, client and scopes")
		}
	})
}

func TestTwoRequiredScopesAreAllNamed(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{RequiredScopes: []string{"execute", "admin"}})
	got, _ := do(t, http.MethodPost, ts.URL+"/reverse", tokAlice, `{"input_string":"ab"}`, nil)
	want := `Bearer error="insufficient_scope", error_description="the token lacks the scope admin: ask for execute admin when signing in, or have an administrator grant it", resource_metadata="` +
		ts.URL + `/.well-known/oauth-protected-resource/mcp", scope="execute admin"`
	if diff := cmp.Diff(want, got.Challenge); diff != "" {
		t.Errorf("challenge (-want +got):\n%s", diff)
	}
}

// TestFullScopesAdvertised: with the API's identifier URI, the metadata and both challenges
// name <uri>/<scope> (what Entra understands in a request), while the token is still matched on
// the short scp names: alice's token (scp "execute read") passes, carol's ("read") gets 403.
func TestFullScopesAdvertised(t *testing.T) {
	t.Parallel()
	const uri = "api://11111111-2222-3333-4444-555555555555"
	ts := newTestServer(t, Config{RequiredScopes: []string{"execute", "read"}, ScopePrefix: uri})
	full := `scope="` + uri + `/execute ` + uri + `/read"`
	got, _ := do(t, http.MethodPost, ts.URL+"/reverse", "", `{"input_string":"ab"}`, nil)
	if got.Status != 401 || !strings.Contains(got.Challenge, full) {
		t.Errorf("401 challenge %q lacks %s", got.Challenge, full)
	}
	got, _ = do(t, http.MethodPost, ts.URL+"/reverse", tokNoScope, `{"input_string":"ab"}`, nil)
	if got.Status != 403 || !strings.Contains(got.Challenge, full) || !strings.Contains(got.Challenge, `error="insufficient_scope"`) {
		t.Errorf("403 challenge %q lacks %s", got.Challenge, full)
	}
	got, _ = do(t, http.MethodPost, ts.URL+"/reverse", tokAlice, `{"input_string":"ab"}`, nil)
	if got.Status != 200 {
		t.Errorf("alice (scp execute read): status %d, want 200", got.Status)
	}
	resp, err := http.Get(ts.URL + "/.well-known/oauth-protected-resource/mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md struct {
		Scopes []string `json:"scopes_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{uri + "/execute", uri + "/read"}, md.Scopes); diff != "" {
		t.Errorf("scopes_supported (-want +got):\n%s", diff)
	}
}

func TestProtectedResourceMetadata(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	want := map[string]any{
		"resource":                 ts.mcpURL,
		"authorization_servers":    []any{"https://login.example.com/tenant/v2.0"},
		"scopes_supported":         []any{"execute"},
		"bearer_methods_supported": []any{"header"},
		"resource_name":            "fastmcp-auth",
	}
	for _, path := range []string{"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			// A browser page of any origin may read the metadata: it is public by design.
			req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
			req.Header.Set("Origin", "https://elsewhere.example")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Errorf("status %d, want 200", resp.StatusCode)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	got, _ := do(t, http.MethodGet, ts.URL+"/healthz", "", "", nil)
	want := answer{Status: 200, ContentType: "application/json", Body: map[string]string{"status": "ok"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestOriginAndCORS(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{AllowedOrigins: []string{"https://app.example", "http://localhost:3000/"}})
	type corsAnswer struct {
		Status                            int
		Error                             string
		AllowOrigin, AllowHeaders, Expose string
		AllowMethods                      string
		Challenge                         bool
	}
	forbidden := corsAnswer{Status: 403, Error: "forbidden_origin"}
	tests := []struct {
		name, method, path, origin, token, body string
		preflight                               bool
		want                                    corsAnswer
	}{
		{name: "foreign origin on mcp", method: "POST", path: "/mcp", origin: "https://evil.example", token: tokAlice, body: initializeBody, want: forbidden},
		{name: "null origin", method: "POST", path: "/reverse", origin: "null", token: tokAlice, body: `{"input_string":"ab"}`, want: forbidden},
		{name: "foreign preflight", method: "OPTIONS", path: "/mcp", origin: "https://evil.example", preflight: true, want: forbidden},
		{name: "port differs from allowed", method: "POST", path: "/reverse", origin: "https://app.example:8443", token: tokAlice, body: `{"input_string":"ab"}`, want: forbidden},
		{
			name: "allowed origin, no token: challenge readable", method: "POST", path: "/mcp", origin: "https://app.example", body: initializeBody,
			want: corsAnswer{Status: 401, Error: "unauthorized", AllowOrigin: "https://app.example", Expose: corsExposeHeaders, Challenge: true},
		},
		{
			name: "allowed origin preflight on mcp", method: "OPTIONS", path: "/mcp", origin: "https://app.example", preflight: true,
			want: corsAnswer{Status: 204, AllowOrigin: "https://app.example", Expose: corsExposeHeaders, AllowHeaders: corsAllowHeaders, AllowMethods: corsAllowMethods},
		},
		{
			name: "allowed origin preflight on reverse, normalised", method: "OPTIONS", path: "/reverse", origin: "http://LOCALHOST:3000", preflight: true,
			want: corsAnswer{Status: 204, AllowOrigin: "http://LOCALHOST:3000", Expose: corsExposeHeaders, AllowHeaders: corsAllowHeaders, AllowMethods: corsAllowMethods},
		},
		{
			name: "allowed origin reverse", method: "POST", path: "/reverse", origin: "https://app.example", token: tokAlice, body: `{"input_string":"ab"}`,
			want: corsAnswer{Status: 200, AllowOrigin: "https://app.example", Expose: corsExposeHeaders},
		},
		{
			name: "same origin as the public URL", method: "POST", path: "/reverse", origin: ts.URL, token: tokAlice, body: `{"input_string":"ab"}`,
			want: corsAnswer{Status: 200},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := map[string]string{"Origin": tt.origin}
			if tt.preflight {
				h["Access-Control-Request-Method"] = "POST"
				h["Access-Control-Request-Headers"] = "authorization, content-type"
			}
			a, hdr := do(t, tt.method, ts.URL+tt.path, tt.token, tt.body, h)
			got := corsAnswer{
				Status: a.Status, Error: a.Body["error"],
				AllowOrigin: hdr.Get("Access-Control-Allow-Origin"), AllowHeaders: hdr.Get("Access-Control-Allow-Headers"),
				Expose: hdr.Get("Access-Control-Expose-Headers"), AllowMethods: hdr.Get("Access-Control-Allow-Methods"),
				Challenge: hdr.Get("WWW-Authenticate") != "",
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	big := `{"input_string":"` + strings.Repeat("a", MaxRequestBody) + `"}`
	tests := []struct {
		name, path, token string
		chunked           bool
		want              int
	}{
		{name: "mcp with content length", path: "/mcp", token: tokAlice, want: 413},
		{name: "reverse with content length", path: "/reverse", token: tokAlice, want: 413},
		{name: "reverse chunked", path: "/reverse", token: tokAlice, chunked: true, want: 413},
		{name: "mcp chunked", path: "/mcp", token: tokAlice, chunked: true, want: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var body io.Reader = strings.NewReader(big)
			if tt.chunked {
				body = io.MultiReader(strings.NewReader(big)) // unknown length: sent chunked
			}
			req, _ := http.NewRequest(http.MethodPost, ts.URL+tt.path, body)
			req.Header.Set("Authorization", "Bearer "+tt.token)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestRESTReverse(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	tests := []struct {
		name, token, body string
		want              answer
	}{
		{name: "ok", token: tokAlice, body: `{"input_string":"héllo 🇫🇷!"}`, want: answer{Status: 200, ContentType: "application/json", Body: map[string]string{"reversed": "!🇫🇷 olléh"}}},
		{name: "app-only ok", token: tokApp, body: `{"input_string":"abc","extra":1}`, want: answer{Status: 200, ContentType: "application/json", Body: map[string]string{"reversed": "cba"}}},
		{name: "bad json", token: tokAlice, body: `{"input_string":`, want: answer{Status: 400, ContentType: "application/json", Body: map[string]string{"error": "invalid_request", "error_description": `the body must be a JSON object such as {"input_string": "text"}`}}},
		{name: "wrong type", token: tokAlice, body: `{"input_string":3}`, want: answer{Status: 400, ContentType: "application/json", Body: map[string]string{"error": "invalid_request", "error_description": `the body must be a JSON object such as {"input_string": "text"}`}}},
		{name: "missing", token: tokAlice, body: `{}`, want: answer{Status: 400, ContentType: "application/json", Body: map[string]string{"error": "invalid_request", "error_description": "input_string is required and must not be empty"}}},
		{name: "empty", token: tokAlice, body: `{"input_string":""}`, want: answer{Status: 400, ContentType: "application/json", Body: map[string]string{"error": "invalid_request", "error_description": "input_string is required and must not be empty"}}},
		{name: "too long", token: tokAlice, body: `{"input_string":"` + strings.Repeat("x", MaxQuery+1) + `"}`, want: answer{Status: 400, ContentType: "application/json", Body: map[string]string{"error": "invalid_request", "error_description": fmt.Sprintf("input_string is over the %d-byte (64 KiB) limit", MaxQuery)}}},
		{name: "no token", body: `{"input_string":"ab"}`, want: answer{Status: 401, ContentType: "application/json", Challenge: `Bearer resource_metadata="` + ts.URL + `/.well-known/oauth-protected-resource/mcp", scope="execute"`, Body: map[string]string{"error": "unauthorized", "error_description": "a bearer token is required: send Authorization: Bearer <token> (fastmcp-auth token prints one)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, _ := do(t, http.MethodPost, ts.URL+"/reverse", tt.token, tt.body, map[string]string{"Content-Type": "application/json"})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("invalid token", func(t *testing.T) {
		t.Parallel()
		got, _ := do(t, http.MethodPost, ts.URL+"/reverse", tokExpired, `{"input_string":"ab"}`, nil)
		if got.Status != 401 || got.Body["error"] != "invalid_token" || !strings.HasPrefix(got.Challenge, `Bearer error="invalid_token"`) {
			t.Errorf("got %+v, want 401 invalid_token", got)
		}
	})
	t.Run("missing scope", func(t *testing.T) {
		t.Parallel()
		got, _ := do(t, http.MethodPost, ts.URL+"/reverse", tokNoScope, `{"input_string":"ab"}`, nil)
		if got.Status != 403 || got.Body["error"] != "insufficient_scope" || !strings.HasPrefix(got.Challenge, `Bearer error="insufficient_scope"`) {
			t.Errorf("got %+v, want 403 insufficient_scope", got)
		}
	})
	t.Run("GET is not allowed", func(t *testing.T) {
		t.Parallel()
		got, _ := do(t, http.MethodGet, ts.URL+"/reverse", tokAlice, "", nil)
		if got.Status != http.StatusMethodNotAllowed {
			t.Errorf("status %d, want 405", got.Status)
		}
	})
}

func TestNoAuthNeedsNoToken(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{NoAuth: true})
	got, _ := do(t, http.MethodPost, ts.URL+"/reverse", "", `{"input_string":"ab"}`, nil)
	want := answer{Status: 200, ContentType: "application/json", Body: map[string]string{"reversed": "ba"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestHandlerConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "no verifier", cfg: Config{PublicURL: "http://localhost:8000/mcp"}},
		{name: "no public URL", cfg: Config{NoAuth: true}},
		{name: "relative public URL", cfg: Config{NoAuth: true, PublicURL: "/mcp"}},
		{name: "bad path", cfg: Config{NoAuth: true, PublicURL: "http://localhost:8000/mcp", Path: "mcp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Handler(tt.cfg); err == nil {
				t.Errorf("Handler accepted %+v", tt.cfg)
			}
		})
	}
}

// TestNoStandaloneStream: the built-in server answers a session's GET with 405 and Allow (the
// spec's "no stream here"), but only after the bearer check (401) and the SDK's session check
// (404 for an unknown one), and the session goes on working.
func TestNoStandaloneStream(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	initialized, header := do(t, http.MethodPost, ts.URL+"/mcp", tokAlice, initializeBody, nil)
	session := header.Get("Mcp-Session-Id")
	if initialized.Status != http.StatusOK || session == "" {
		t.Fatalf("initialize: status %d, session %q", initialized.Status, session)
	}
	// Not through do: a stream that is offered never ends, so each GET has a deadline.
	get := func(token, session string) (status int, allow string) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/mcp", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET: %v (want an immediate answer)", err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Allow")
	}
	if status, allow := get(tokAlice, session); status != http.StatusMethodNotAllowed || allow != "POST, DELETE" {
		t.Errorf("GET with a session: status %d, Allow %q; want 405 and Allow: POST, DELETE", status, allow)
	}
	if status, _ := get("", session); status != http.StatusUnauthorized {
		t.Errorf("GET without a token: status %d, want 401", status)
	}
	if status, _ := get(tokAlice, "no-such-session"); status != http.StatusNotFound {
		t.Errorf("GET with an unknown session: status %d, want 404", status)
	}
	post := map[string]string{"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25"}
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	if got, _ := do(t, http.MethodPost, ts.URL+"/mcp", tokAlice, list, post); got.Status != http.StatusOK {
		t.Errorf("tools/list after the refused GET: status %d, want 200", got.Status)
	}
}
