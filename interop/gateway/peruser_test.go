//go:build unix

package gatewayinterop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
	gw "github.com/fastmcp-auth/fastmcp-auth/gateway"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// oboVar is the --obo-token-env of these tests.
const oboVar = "GRAPH_TOKEN"

// perUserGateway is the gateway of `serve --per-user --obo-token-env GRAPH_TOKEN -- node
// server-everything stdio`, in this process, with a fake On-Behalf-Of exchange and a manual
// clock (the exchange against the development authority is the end-to-end test's): users are
// named by the X-Test-User header.
type perUserGateway struct {
	url    string
	clock  *testenv.Clock
	marker string

	mu        sync.Mutex
	exchanged map[string]int
}

func startPerUserGateway(t *testing.T) *perUserGateway {
	t.Helper()
	node := requireNode(t)
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	pg := &perUserGateway{clock: testenv.NewClock(time.Now()), marker: "gwtest-" + hex.EncodeToString(rnd[:]), exchanged: map[string]int{}}
	// The gateway's own environment holds a secret the children must not see.
	t.Setenv("FASTMCP_AUTH_API_CLIENT_SECRET", "gateway-secret")
	pu, err := gw.NewPerUser(gw.PerUserConfig{
		Dial: gw.Command{Path: node, Args: []string{"--title=" + pg.marker, everything, "stdio"},
			Env: gw.ScrubbedEnv(os.Environ(), nil), Grace: time.Second}.Dial,
		TokenEnv: oboVar, Now: pg.clock.Now, AfterFunc: pg.clock.AfterFunc,
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gw.New(gw.Config{
		Dial: pu.Dial,
		Identity: func(ctx context.Context) *auth.Identity {
			id, _ := ctx.Value(userKey{}).(*auth.Identity)
			return id
		},
		OBO: pg.exchange,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := r.Header.Get("X-Test-User"); u != "" {
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, &auth.Identity{ObjectID: u, TenantID: "t"}))
		}
		g.ServeHTTP(w, r)
	}))
	pg.url = srv.URL
	t.Cleanup(func() {
		srv.Close()
		g.Close()
		_ = pu.Close()
		waitNoChildren(t, pg.marker, os.Getpid(), "after the gateway closed")
	})
	return pg
}

type userKey struct{}

// exchange is the fake On-Behalf-Of exchange: "obo-<user>-<n>", valid for an hour.
func (pg *perUserGateway) exchange(_ context.Context, id *auth.Identity, assertion string, _ bool) (*auth.Token, error) {
	if assertion != "user-token-of-"+id.ObjectID {
		return nil, fmt.Errorf("assertion of the wrong user")
	}
	pg.mu.Lock()
	defer pg.mu.Unlock()
	pg.exchanged[id.ObjectID]++
	return &auth.Token{AccessToken: fmt.Sprintf("obo-%s-%d", id.ObjectID, pg.exchanged[id.ObjectID]), ExpiresOn: pg.clock.Now().Add(time.Hour)}, nil
}

// userTransport signs requests as a user: the identity header and the bearer token the
// gateway exchanges.
type userTransport string

func (u userTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("X-Test-User", string(u))
	r.Header.Set("Authorization", "Bearer user-token-of-"+string(u))
	return http.DefaultTransport.RoundTrip(r)
}

// connect opens an MCP session (the go-sdk client) as user.
func (pg *perUserGateway) connect(t *testing.T, user string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "peruser-" + user, Version: "1"}, nil).Connect(ctx,
		&mcp.StreamableClientTransport{Endpoint: pg.url, HTTPClient: &http.Client{Transport: userTransport(user)}}, nil)
	if err != nil {
		t.Fatalf("%s: connect: %v", user, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// env calls server-everything's get-env tool (it prints process.env as JSON).
func env(t *testing.T, cs *mcp.ClientSession) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get-env", Arguments: map[string]any{}})
	if err != nil || res.IsError || len(res.Content) == 0 {
		t.Fatalf("get-env: %v %+v", err, res)
	}
	text, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("get-env: %T", res.Content[0])
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(text.Text), &m); err != nil {
		t.Fatalf("get-env printed %q: %v", text.Text, err)
	}
	return m
}

// waitChildren waits until exactly n upstream processes run (self: the gateway's pid, whose
// own command line names the upstream).
func waitChildren(t *testing.T, marker string, self, n int, when string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := children(marker, self)
		if len(got) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d upstream processes %v, want %d", when, len(got), got, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPerUserEverythingServerWithOBOToken: two users, two server-everything processes, each
// with its own On-Behalf-Of token in GRAPH_TOKEN and not the other's (nor the gateway's
// secret); a user's second session shares their process; a renewal before expiry restarts
// the process and the session goes on, seeing the new token.
func TestPerUserEverythingServerWithOBOToken(t *testing.T) {
	pg := startPerUserGateway(t)
	alice, bob := pg.connect(t, "alice"), pg.connect(t, "bob")
	ea, eb := env(t, alice), env(t, bob)
	if ea[oboVar] != "obo-alice-1" || eb[oboVar] != "obo-bob-1" {
		t.Fatalf("%s: alice's process %q, bob's %q", oboVar, ea[oboVar], eb[oboVar])
	}
	for name, e := range map[string]map[string]string{"alice": ea, "bob": eb} {
		if _, leaked := e["FASTMCP_AUTH_API_CLIENT_SECRET"]; leaked {
			t.Errorf("%s's process sees the gateway's secret", name)
		}
	}
	waitChildren(t, pg.marker, os.Getpid(), 2, "two users")
	alice2 := pg.connect(t, "alice")
	if got := env(t, alice2)[oboVar]; got != "obo-alice-1" {
		t.Errorf("alice's second session: %q", got)
	}
	waitChildren(t, pg.marker, os.Getpid(), 2, "alice's second session")

	// The renewal timers: one per user, at 48 minutes (80% of the hour), fired by hand.
	timers := pg.clock.Armed()
	if len(timers) != 2 || timers[0].D != 48*time.Minute {
		t.Fatalf("renewal timers %+v, want two at 48m", timers)
	}
	before := children(pg.marker, os.Getpid())
	timers[0].Fire() // alice's: she connected first
	if got := env(t, alice)[oboVar]; got != "obo-alice-2" {
		t.Errorf("after the renewal, alice's first session sees %q", got)
	}
	if got := env(t, alice2)[oboVar]; got != "obo-alice-2" {
		t.Errorf("after the renewal, alice's second session sees %q", got)
	}
	if got := env(t, bob)[oboVar]; got != "obo-bob-1" {
		t.Errorf("bob's process was touched by alice's renewal: %q", got)
	}
	waitChildren(t, pg.marker, os.Getpid(), 2, "after the restart")
	if after := children(pg.marker, os.Getpid()); fmt.Sprint(after) == fmt.Sprint(before) {
		t.Errorf("no process was replaced: %v", after)
	}
	_ = alice.Close()
	_ = alice2.Close()
	waitChildren(t, pg.marker, os.Getpid(), 1, "alice's sessions closed")
}

// TestPerUserServe: `serve --per-user` (the real binary, development-authority tokens) runs
// one process per user whatever the number of their sessions, and a user's process ends with
// their last session.
func TestPerUserServe(t *testing.T) {
	requireNode(t)
	g := startGateway(t, []string{"--per-user"}, "node", everything, "stdio")
	self := g.cmd.Process.Pid
	alice := g.token(t, "alice")
	sidA1, stopA1 := hold(t, g.url, alice)
	sidA2, stopA2 := hold(t, g.url, alice)
	_, stopB := hold(t, g.url, g.token(t, "bob"))
	defer stopB()
	waitChildren(t, g.marker, self, 2, "two users, three sessions")
	// The hold client leaves without DELETE: end its session as a closing client would.
	end := func(sid string, stop func()) {
		stop()
		if code, _ := requestMCP(t, http.MethodDelete, g.url, alice, sid, ""); code != http.StatusNoContent {
			t.Fatalf("DELETE: %d", code)
		}
	}
	end(sidA1, stopA1)
	waitChildren(t, g.marker, self, 2, "alice's first session closed")
	end(sidA2, stopA2)
	waitChildren(t, g.marker, self, 1, "alice's last session closed")
}
