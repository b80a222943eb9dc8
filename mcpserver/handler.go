package mcpserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/fastmcp-auth/fastmcp-auth/internal/httpx"
)

// WellKnownPRM is the RFC 9728 well-known path of the protected resource metadata. It is
// served at the root and with the MCP path appended (path-aware discovery).
const WellKnownPRM = "/.well-known/oauth-protected-resource"

// Handler returns the whole HTTP surface: the MCP endpoint behind the bearer middleware, the
// protected resource metadata at both well-known paths, GET /healthz, POST /reverse and the
// Extra routes, all wrapped in the request log, the Origin check with CORS, and the body
// limit.
func Handler(cfg Config) (http.Handler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	pub, _ := parsePublicURL(cfg.PublicURL) // validated by withDefaults
	urls := publicURLs{pub: pub, path: cfg.Path, fromRequest: cfg.PublicURLFromRequest}

	mcpHandler := cfg.MCPHandler
	if mcpHandler == nil {
		mcpHandler = builtinHandler(cfg)
	}

	guard := newAuthenticator(cfg, urls.metadataURL)
	mux := http.NewServeMux()
	prm := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sdkauth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
			Resource:               urls.resource(r),
			AuthorizationServers:   cfg.AuthorizationServers,
			ScopesSupported:        auth.FullScopes(cfg.ScopePrefix, cfg.RequiredScopes),
			BearerMethodsSupported: []string{"header"},
			ResourceName:           serverName,
		}).ServeHTTP(w, r)
	})
	mux.Handle(WellKnownPRM, prm)
	mux.Handle(WellKnownPRM+cfg.Path, prm)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	if cfg.MCPHandler == nil {
		mcpHandler = coalesceFlushes(mcpHandler)
	}
	mux.Handle(cfg.Path, guard.wrap(mcpHandler))
	if cfg.MCPHandler == nil {
		mux.Handle("POST /reverse", guard.wrap(http.HandlerFunc(restReverse)))
	}
	if cfg.Extra != nil {
		cfg.Extra(mux)
	}

	origins := newOriginPolicy(pub, cfg.AllowedOrigins)
	var h http.Handler = mux
	h = limitBody(h)
	h = origins.wrap(h)
	h = logRequests(cfg.Logger, cfg.OnRequest, h)
	return h, nil
}

// builtinHandler is the go-sdk Streamable HTTP handler of the built-in tools.
func builtinHandler(cfg Config) http.Handler {
	server := NewServer(cfg)
	sessionTimeout := cfg.SessionTimeout
	if sessionTimeout < 0 {
		sessionTimeout = 0 // the SDK's "never"
	}
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{
		Stateless: cfg.Stateless,
		// JSONResponse stays false: with it, progress notifications leave the call's own
		// stream and are lost in stateless mode.
		JSONResponse:   false,
		SessionTimeout: sessionTimeout,
		// In stateless mode the HTTP request is the only link to the call: ending it must
		// cancel the handler.
		PropagateRequestCancellation: true,
		MaxRequestBodyBytes:          MaxRequestBody,
		Logger:                       cfg.Logger,
		// DisableLocalhostProtection stays false: the SDK refuses non-loopback Host headers
		// arriving on a loopback address, which defeats DNS rebinding.
		//
		// DisableStandaloneSSE (our go-sdk patch, third_party/README.md): a session's GET,
		// once the SDK has checked the session and its owner, is answered 405, the spec's way
		// of saying "no SSE stream at this endpoint" (MCP 2025-06-18, basic/transports,
		// "Listening for Messages from the Server"). The built-in server never has anything
		// to send outside a call: its two tools are fixed (no list_changed), it logs nothing
		// to clients and makes no requests, progress goes on the call's own POST stream, and
		// there is no event store to resume from. A GET stream would stay silent for the
		// whole session while holding a connection, two goroutines and their buffers: at 200
		// sessions, 12 of the server's 52 MiB. Clients take 405 as "no stream" and go on: the
		// TypeScript SDK (StreamableHTTPClientTransport._startOrAuthSse: "405 indicates that
		// the server does not offer an SSE stream at GET endpoint"), the go-sdk
		// (streamableClientConn's standalone SSE stream) and VS Code (extHostMcp.ts,
		// _attachStreamableBackchannel: on a 4xx, async notifications "will be disabled").
		// The gateway keeps the stream: an upstream server may send list_changed or requests.
		DisableStandaloneSSE: true,
	})
}

// withDefaults validates cfg and fills in the defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Verifier == nil && !cfg.NoAuth {
		return cfg, errors.New("mcpserver: a Verifier is required unless NoAuth is set")
	}
	if cfg.Path == "" {
		cfg.Path = DefaultPath
	}
	if !ValidPath(cfg.Path) {
		return cfg, fmt.Errorf("mcpserver: path must start with / and name an endpoint, such as /mcp: %q", cfg.Path)
	}
	if _, err := parsePublicURL(cfg.PublicURL); err != nil {
		return cfg, fmt.Errorf("mcpserver: public URL must be an absolute http(s) URL, not %q", cfg.PublicURL)
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = DefaultSessionTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = discardLogger()
	}
	return cfg, nil
}

// ValidPath reports whether p can be the MCP endpoint's path: it starts with "/", is not the
// root, and holds no query, fragment, space or "{}" (which http.ServeMux would read as a
// wildcard pattern).
func ValidPath(p string) bool {
	return strings.HasPrefix(p, "/") && p != "/" && !strings.ContainsAny(p, "?#{} ")
}

// publicURLs gives the URLs clients are told about: fixed from the public URL, or, with
// fromRequest, built from the request's scheme and Host on the public URL's path.
type publicURLs struct {
	pub         *url.URL
	path        string
	fromRequest bool
}

// base is the public URL for r: pub, or pub with r's scheme and Host.
func (p publicURLs) base(r *http.Request) *url.URL {
	if !p.fromRequest || r == nil || r.Host == "" || strings.ContainsAny(r.Host, "/\\\" <>") {
		return p.pub
	}
	u := *p.pub
	u.Host = r.Host
	u.Scheme = "http"
	if r.TLS != nil {
		u.Scheme = "https"
	}
	return &u
}

// resource is the protected resource metadata's "resource" for r.
func (p publicURLs) resource(r *http.Request) string { return p.base(r).String() }

// metadataURL is the resource_metadata URL of r's challenges.
func (p publicURLs) metadataURL(r *http.Request) string { return prmURLFor(p.base(r), p.path) }

// prmURLFor is the metadata URL advertised in WWW-Authenticate: the path-aware form when the
// public URL's path is the one this handler serves, else the root form.
func prmURLFor(pub *url.URL, path string) string {
	base := pub.Scheme + "://" + pub.Host + WellKnownPRM
	if strings.TrimSuffix(pub.Path, "/") == path {
		return base + path
	}
	return base
}

// restRequest is the body of POST /reverse.
type restRequest struct {
	InputString *string `json:"input_string"`
}

// restReverse serves POST /reverse: {"input_string": "..."} -> {"reversed": "..."}.
func restReverse(w http.ResponseWriter, r *http.Request) {
	var in restRequest
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&in); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request_too_large", fmt.Sprintf("the request body is over %d bytes", MaxRequestBody))
			return
		}
		writeError(w, http.StatusBadRequest, "invalid_request", `the body must be a JSON object such as {"input_string": "text"}`)
		return
	}
	switch {
	case in.InputString == nil || *in.InputString == "":
		writeError(w, http.StatusBadRequest, "invalid_request", `input_string is required and must not be empty`)
	case len(*in.InputString) > MaxQuery:
		writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("input_string is over the %d-byte (64 KiB) limit", MaxQuery))
	default:
		writeJSON(w, http.StatusOK, map[string]string{"reversed": Reverse(*in.InputString)})
	}
}

// errorBody is the JSON body of every error this package writes itself.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

func writeError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, errorBody{Error: code, ErrorDescription: description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// limitBody refuses bodies over MaxRequestBody: at once when Content-Length says so, else
// when the reader passes the limit.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxRequestBody {
			noteReason(r, "body_too_large")
			writeError(w, http.StatusRequestEntityTooLarge, "request_too_large", fmt.Sprintf("the request body is over %d bytes", MaxRequestBody))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBody)
		}
		next.ServeHTTP(w, r)
	})
}

// logRequests writes one line per request: method, path, status, duration, and the subject
// or the reason of a refusal noted by the inner layers. The query string and headers are
// never logged, so no token can reach the log.
func logRequests(logger *slog.Logger, observe func(string, int, string, time.Duration), next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		r = r.WithContext(withRequestInfo(r.Context(), info))
		rec := httpx.NewStatusRecorder(w)
		next.ServeHTTP(rec, r)
		status := rec.Status()
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
		}
		// Who called: the identity the token proved (never the token itself), so that an
		// operator can tell users, tenants and client apps apart in the log.
		id, reason := info.get()
		if id != nil {
			attrs = append(attrs, slog.String("subject", id.User()))
			if id.TenantID != "" {
				attrs = append(attrs, slog.String("tid", id.TenantID))
			}
			if id.ClientID != "" {
				attrs = append(attrs, slog.String("azp", id.ClientID))
			}
			granted := id.Scopes
			if id.AppOnly() {
				granted = id.Roles
			}
			attrs = append(attrs, slog.String("scopes", strings.Join(granted, " ")))
		}
		if reason != "" {
			attrs = append(attrs, slog.String("reason", reason))
		}
		if observe != nil {
			observe(r.Method, status, reason, time.Since(start))
		}
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}
