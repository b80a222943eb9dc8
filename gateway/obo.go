package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	"github.com/fastmcp-auth/fastmcp-auth/internal/httpx"
	"github.com/fastmcp-auth/fastmcp-auth/internal/jsonrpc"
)

// TokenExchange returns a token for the upstream on behalf of the caller id, whose verified
// bearer token (issued for this gateway) is assertion. force asks for a fresh exchange, not a
// cached token: the upstream refused the one it had (401). It is (*auth.OnBehalfOf).Token in
// `serve --obo-scope`; errors that need the user (consent, MFA) should say what to do.
type TokenExchange func(ctx context.Context, id *auth.Identity, assertion string, force bool) (*auth.Token, error)

// ErrNoAssertion: the gateway holds no unexpired token of the session's user to exchange. The
// user's next request brings one.
var ErrNoAssertion = errors.New("the gateway holds no unexpired token of this user to exchange: call again (the client sends a fresh token)")

// assertions keeps, per user (ownerOf), the newest verified bearer token the user sent, so a
// session's upstream can exchange it (On-Behalf-Of) between requests too (a refresh before
// expiry, a server-initiated request). Only tokens that passed the bearer middleware reach
// it; they are held in memory only, never logged, and dropped at expiry.
type assertions struct {
	now func() time.Time

	mu     sync.Mutex
	m      map[string]assertion
	pruned int // len(m) after the last prune, to prune in amortised O(1)
}

// assertion is one user's newest token and identity.
type assertion struct {
	token string
	id    *auth.Identity
}

// note records token as owner's newest when it expires no sooner than the one held: a
// client may replay an older token on a slow request.
func (a *assertions) note(owner string, id *auth.Identity, token string) {
	if id == nil || token == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]assertion{}
	}
	if old, ok := a.m[owner]; ok && old.id.Expiry.After(id.Expiry) {
		return
	}
	a.m[owner] = assertion{token: token, id: id}
	if len(a.m) > 2*a.pruned+16 {
		now := a.now()
		for k, v := range a.m {
			if !v.id.Expiry.IsZero() && !now.Before(v.id.Expiry) {
				delete(a.m, k)
			}
		}
		a.pruned = len(a.m)
	}
}

// get returns owner's newest unexpired token and identity, or ErrNoAssertion.
func (a *assertions) get(owner string) (string, *auth.Identity, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	v, ok := a.m[owner]
	if !ok || (!v.id.Expiry.IsZero() && !a.now().Before(v.id.Expiry)) {
		return "", nil, ErrNoAssertion
	}
	return v.token, v.id, nil
}

// noteAssertion records the verified bearer token of r for its caller, when the gateway
// exchanges tokens (Config.OBO). The bearer middleware in front has verified it; the header
// is read here rather than carried through the context so that nothing else holds it.
func (g *Gateway) noteAssertion(r *http.Request) {
	if g.cfg.OBO == nil {
		return
	}
	id := g.identity(r)
	token, ok := httpx.BearerToken(r)
	if id == nil || !ok {
		return
	}
	g.assertions.note(ownerOf(id), id, token)
}

// userToken is SessionInfo.UserToken for owner's sessions: the On-Behalf-Of token of the
// user, from their newest token.
func (g *Gateway) userToken(owner string) func(ctx context.Context, force bool) (*auth.Token, error) {
	if g.cfg.OBO == nil {
		return nil
	}
	return func(ctx context.Context, force bool) (*auth.Token, error) {
		token, id, err := g.assertions.get(owner)
		if err != nil {
			return nil, err
		}
		return g.cfg.OBO(ctx, id, token, force)
	}
}

// CodeTokenUnavailable answers a request (other than tools/call, which gets a tool error) when
// the user's On-Behalf-Of token for the upstream could not be obtained. It is the code the HTTP
// upstream's relay (mcpproxy) gives for the same failure, so a client reads one code for both
// kinds of upstream (mcpclient: exit 3 with the message).
const CodeTokenUnavailable = jsonrpc.CodeUnauthorized

// TokenError is a failed On-Behalf-Of exchange for a user's upstream. The client is told its
// text, not a bare 500 or a hang, because only the user can fix most causes (consent, MFA,
// signing in again): the exchange's errors say what to do, and carry no token.
type TokenError struct {
	Err error
}

// Error says what failed and, through the exchange's own error, what to do.
func (e *TokenError) Error() string {
	return "could not get your token for the upstream MCP server (On-Behalf-Of): " + e.Err.Error()
}

// Unwrap returns the exchange's error.
func (e *TokenError) Unwrap() error { return e.Err }

// toolError is a tools/call result that reports a failure as the tool's own (isError): MCP
// clients show it to the user or the model, where a JSON-RPC error is often only logged.
func toolError(id json.RawMessage, text string) []byte {
	return mustJSON(map[string]any{"jsonrpc": "2.0", "id": id, "result": map[string]any{
		"isError": true, "content": []any{map[string]any{"type": "text", "text": text}},
	}})
}
