//go:build unix

// (Unix only: these tests drive the gateway with Unix signals, SIGHUP reload among them, and
// check for orphans with kill(2).)

package gatewayinterop

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// replicaNginxHTTP is the http block of the README's configuration for replicas %[1]s and
// %[2]s (gw1 and gw2) listening on %[3]s: a map on the Mcp-Session-Id prefix sends a session's
// requests to the replica that holds it; initialize (no session ID) goes round robin.
const replicaNginxHTTP = `    map $http_mcp_session_id $mcp_replica {
        ~^gw1\.  %[1]s;
        ~^gw2\.  %[2]s;
        default  mcp_any;
    }
    upstream mcp_any { server %[1]s; server %[2]s; }
    server {
        listen %[3]s;
        location /mcp {
            proxy_pass http://$mcp_replica;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_read_timeout 300s;
        }
        location / {
            proxy_pass http://mcp_any;
            proxy_set_header Host $http_host;
        }
    }
`

// startReplicas runs one `fastmcp-auth serve` per element of args (its flags after --addr),
// each on a free address and configured for authority a with public as its public URL,
// waits for each to be healthy, and returns their addresses and logs. At cleanup each gets
// SIGTERM; the logs of a failed test are printed.
func startReplicas(t *testing.T, a *devauthority.Authority, public string, args ...[]string) ([]string, []*testenv.SyncBuffer) {
	t.Helper()
	var addrs []string
	var logs []*testenv.SyncBuffer
	for _, flags := range args {
		addr := testenv.FreeAddr(t)
		_, l := testenv.Serve(t, a, addr, public, flags...)
		addrs = append(addrs, addr)
		logs = append(logs, l)
	}
	return addrs, logs
}

// TestTwoReplicasBehindNginx runs two gateways with --replica-id gw1 and gw2 behind the
// README's nginx map: every session of several clients works end to end (a request routed to
// the other replica would get 404), and both replicas hold sessions.
func TestTwoReplicasBehindNginx(t *testing.T) {
	requireNode(t)
	testenv.NginxPath(t)
	a := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true})
	front := testenv.FreeAddr(t)
	public := "http://" + front + "/mcp"
	var args [][]string
	for _, id := range []string{"gw1", "gw2"} {
		args = append(args, []string{"--replica-id", id, "--", "node", everything, "stdio"})
	}
	addrs, logs := startReplicas(t, a, public, args...)
	testenv.StartNginx(t, front, 256, fmt.Sprintf(replicaNginxHTTP, addrs[0], addrs[1], front))
	tok, err := a.IssueAccessTokenAs("alice", []string{"execute"}, nil, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		rep := runClient(t, nil, public, tok, "list", "echo")
		if rep.Fatal != "" || rep.Call == nil || !rep.Call.OK || !strings.Contains(rep.Call.Text, "Echo: m") {
			t.Fatalf("client %d through nginx: %+v %q", i, rep.Call, rep.Fatal)
		}
		if !strings.HasPrefix(rep.SessionID, "gw1.") && !strings.HasPrefix(rep.SessionID, "gw2.") {
			t.Errorf("session ID %q lacks the replica prefix", rep.SessionID)
		}
	}
	for i, l := range logs {
		if !strings.Contains(l.String(), "session started") {
			t.Errorf("replica gw%d got no session: round robin did not reach it", i+1)
		}
	}
}

// roundRobinHTTP is the http block of a plain load balancer over %[1]s and %[2]s listening
// on %[3]s: no routing on the session.
const roundRobinHTTP = `    upstream gw { server %[1]s; server %[2]s; }
    server {
        listen %[3]s;
        location / {
            proxy_pass http://gw;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_read_timeout 300s;
        }
    }
`

// TestStatelessReplicasBehindRoundRobin runs two `serve --stateless --upstream` replicas with a
// policy behind plain round robin: the session lives in the upstream server, so every request
// may reach either replica, and the policy still hides and denies.
func TestStatelessReplicasBehindRoundRobin(t *testing.T) {
	requireNode(t)
	testenv.NginxPath(t)
	upstream := startEverythingHTTP(t)
	pol := testenv.WriteFile(t, t.TempDir(), "policy.yaml", policyYAML)
	a := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true})
	front := testenv.FreeAddr(t)
	public := "http://" + front + "/mcp"
	flags := []string{"--stateless", "--policy", pol, "--upstream", upstream}
	addrs, logs := startReplicas(t, a, public, flags, flags)
	testenv.StartNginx(t, front, 256, fmt.Sprintf(roundRobinHTTP, addrs[0], addrs[1], front))
	user, err := a.IssueAccessTokenAs("bob", []string{"execute"}, nil, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rep := runClient(t, nil, public, user, "list", "get-env")
	if rep.Fatal != "" || rep.Call == nil || rep.Call.Error != "MCP error -32602: Unknown tool: get-env" {
		t.Fatalf("denied call through stateless replicas: %+v %q", rep.Call, rep.Fatal)
	}
	var tools []string
	_ = json.Unmarshal(rep.Tools, &tools)
	if strings.Contains(strings.Join(tools, ","), "get-env") || !strings.Contains(strings.Join(tools, ","), "echo") {
		t.Errorf("tools %v", tools)
	}
	ok := runClient(t, nil, public, user, "list", "echo")
	if ok.Call == nil || !ok.Call.OK {
		t.Fatalf("allowed call: %+v %q", ok.Call, ok.Fatal)
	}
	for i, l := range logs {
		if !strings.Contains(l.String(), "method=POST") {
			t.Errorf("replica %d served nothing: the balancer did not spread the session", i)
		}
	}
}
