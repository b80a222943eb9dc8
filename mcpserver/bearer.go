package mcpserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/httpx"
)

// identityKey is the key of the *auth.Identity in the SDK TokenInfo.Extra map, which is how
// the identity reaches tool handlers (req.Extra.TokenInfo).
const identityKey = "fastmcp-auth/identity"

// IdentityFromContext returns the verified caller of a request that passed the bearer
// middleware (what the MCP endpoint's handler, such as the gateway's, sees), or nil without
// auth.
func IdentityFromContext(ctx context.Context) *auth.Identity {
	if ti := sdkauth.TokenInfoFromContext(ctx); ti != nil {
		id, _ := ti.Extra[identityKey].(*auth.Identity)
		return id
	}
	return nil
}

// genericDescription answers verifier failures that are not *auth.TokenError: their text
// may hold internal details (URLs, library errors), so it is logged, not sent.
const genericDescription = "the token could not be verified"

// authenticator is the bearer middleware. It is ours rather than the SDK's
// auth.RequireBearerToken because that one omits error= from WWW-Authenticate (so clients
// cannot tell a bad token from a missing one, nor step up on insufficient_scope), answers
// non-sentinel verifier errors with 500 and copies their text to the client.
type authenticator struct {
	verify   TokenVerifier
	noAuth   bool
	required []string // short names, matched against scp or roles
	// advertised are the required scopes in the form clients request them
	// (<ScopePrefix>/<name>), for the scope="..." of challenges.
	advertised []string
	prmURL     func(*http.Request) string // resource_metadata of the challenges
	logger     *slog.Logger
}

func newAuthenticator(cfg Config, prmURL func(*http.Request) string) *authenticator {
	return &authenticator{
		verify:     cfg.Verifier,
		noAuth:     cfg.NoAuth,
		required:   cfg.RequiredScopes,
		advertised: auth.FullScopes(cfg.ScopePrefix, cfg.RequiredScopes),
		prmURL:     prmURL,
		logger:     cfg.Logger,
	}
}

// serveAs serves r with next as the verified caller id: the SDK TokenInfo, stored once, binds
// the MCP session to id.User() (the streamable handler answers 403 "session user mismatch"
// to anyone else) and carries id to tool handlers in TokenInfo.Extra.
//
// The context key the SDK reads is unexported; its RequireBearerToken is the only way to set
// it. It is used here as that setter alone: its verifier returns the identity this request
// has already proved, captured in the closure (no second verification, no trip through the
// context). The TokenInfo has no Expiration, and AllowMissingExpiration is set, because our
// verifier has already enforced exp with its own clock and --clock-skew; a second check
// against time.Now without skew would refuse tokens we accepted.
func serveAs(next http.Handler, w http.ResponseWriter, r *http.Request, id *auth.Identity) {
	granted := id.Scopes
	if id.AppOnly() {
		granted = id.Roles
	}
	ti := &sdkauth.TokenInfo{UserID: id.User(), Scopes: granted, Extra: map[string]any{identityKey: id}}
	bind := sdkauth.RequireBearerToken(func(context.Context, string, *http.Request) (*sdkauth.TokenInfo, error) {
		return ti, nil
	}, &sdkauth.RequireBearerTokenOptions{AllowMissingExpiration: true})
	bind(next).ServeHTTP(w, r)
}

// wrap puts the token check in front of next.
func (a *authenticator) wrap(next http.Handler) http.Handler {
	if a.noAuth {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := httpx.BearerToken(r) // the same field rule the SDK middleware applies after us
		if !ok {
			noteReason(r, "missing_token")
			a.challenge(w, r, "", "")
			writeError(w, http.StatusUnauthorized, "unauthorized",
				"a bearer token is required: send Authorization: Bearer <token> (fastmcp-auth token prints one)")
			return
		}
		id, err := a.verify(r.Context(), token)
		if err != nil || id == nil {
			desc, reason := genericDescription, "verifier_error"
			var te *auth.TokenError
			if errors.As(err, &te) {
				desc, reason = te.Description, string(te.Reason)
			} else {
				msg := "verifier returned no identity"
				if err != nil {
					// Belt and braces: a verifier should never quote the token, but the log
					// must not hold it even if one does.
					msg = strings.ReplaceAll(err.Error(), token, "[token]")
				}
				a.logger.Warn("token verification failed", "err", msg)
			}
			noteReason(r, reason)
			desc = descriptionText(desc)
			a.challenge(w, r, "invalid_token", desc)
			writeError(w, http.StatusUnauthorized, "invalid_token", desc)
			return
		}
		noteIdentity(r, id)
		if missing := id.Missing(a.required); len(missing) > 0 {
			noteReason(r, "insufficient_scope")
			desc := "the token lacks the scope " + strings.Join(missing, " ") + ": ask for " + strings.Join(a.advertised, " ") +
				" when signing in, or have an administrator grant it"
			a.challenge(w, r, "insufficient_scope", desc)
			writeError(w, http.StatusForbidden, "insufficient_scope", desc)
			return
		}
		serveAs(next, w, r, id)
	})
}

// challenge sets the WWW-Authenticate header of a 401 or 403: error (when given), scope (all
// required scopes), error_description and resource_metadata, as RFC 6750 section 3 and the MCP
// authorization specification ask.
func (a *authenticator) challenge(w http.ResponseWriter, r *http.Request, code, desc string) {
	var params []string
	add := func(k, v string) { params = append(params, k+"="+quote(v)) }
	if code != "" {
		add("error", code)
	}
	if desc != "" {
		add("error_description", desc)
	}
	add("resource_metadata", a.prmURL(r))
	if len(a.advertised) > 0 {
		add("scope", strings.Join(a.advertised, " "))
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
}

// quote makes an HTTP quoted-string: backslash and double quote escaped, control characters
// dropped (they could split the header).
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// descriptionText restricts an error_description to the characters RFC 6750 section 3
// allows (printable ASCII without '"' and '\'), so every client can parse the challenge.
func descriptionText(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c == '"':
			b[i] = '\''
		case c == '\\':
			b[i] = '/'
		case c < 0x20 || c > 0x7e:
			b[i] = '?'
		}
	}
	return string(b)
}

// requestInfo carries what the request log needs from inner layers.
type requestInfo struct {
	mu     sync.Mutex
	id     *auth.Identity
	reason string
}

func (i *requestInfo) get() (id *auth.Identity, reason string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.id, i.reason
}

type requestInfoKey struct{}

func withRequestInfo(ctx context.Context, info *requestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, info)
}

// noteReason records why a request was refused, for the request log.
func noteReason(r *http.Request, reason string) {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		info.mu.Lock()
		info.reason = reason
		info.mu.Unlock()
	}
}

// noteIdentity records the verified caller, for the request log.
func noteIdentity(r *http.Request, id *auth.Identity) {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		info.mu.Lock()
		info.id = id
		info.mu.Unlock()
	}
}
