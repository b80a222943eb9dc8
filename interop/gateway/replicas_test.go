//go:build unix

// (Unix only: these tests drive the gateway with Unix signals, SIGHUP reload among them, and
// check for orphans with kill(2).)

package gatewayinterop

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// replicaNginxConf is the README's configuration: a map on the Mcp-Session-Id prefix sends a
// session's requests to the replica that holds it; initialize (no session ID) goes round robin.
const replicaNginxConf = `%s
worker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 256; }
http {
    access_log %[2]s/access.log;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    map $http_mcp_session_id $mcp_replica {
        ~^gw1\.  %[3]s;
        ~^gw2\.  %[4]s;
        default  mcp_any;
    }
    upstream mcp_any { server %[3]s; server %[4]s; }
    server {
        listen %[5]s;
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
}
`

func nginxPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("nginx is missing: install the Debian package (apt-get install -y nginx)")
	}
	t.Skip("nginx is missing (apt-get install -y nginx)")
	return ""
}

// TestTwoReplicasBehindNginx runs two gateways with --replica-id gw1 and gw2 behind the
// README's nginx map: every session of several clients works end to end (a request routed to
// the other replica would get 404), and both replicas hold sessions.
func TestTwoReplicasBehindNginx(t *testing.T) {
	requireNode(t)
	bin := nginxPath(t)
	a := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true})
	front := testenv.FreeAddr(t)
	public := "http://" + front + "/mcp"
	var addrs []string
	var logs []*testenv.SyncBuffer
	for _, id := range []string{"gw1", "gw2"} {
		addr := testenv.FreeAddr(t)
		cmd := exec.Command(testenv.Binary(t), "serve", "--addr", addr, "--replica-id", id, "--", "node", everything, "stdio")
		cmd.Env = append(os.Environ(),
			"FASTMCP_AUTH_AUTHORITY="+a.URL(), "FASTMCP_AUTH_CA_FILE="+a.CAFile(),
			"FASTMCP_AUTH_API_CLIENT_ID=fastmcp-dev-api", "FASTMCP_AUTH_PUBLIC_URL="+public)
		l := &testenv.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = l, l
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("%s logs:\n%s", id, l.String())
			}
		})
		testenv.WaitHealthy(t, "http://"+addr+"/healthz", 15*time.Second)
		addrs = append(addrs, addr)
		logs = append(logs, l)
	}
	startNginx(t, bin, front, func(user, dir string) string {
		return fmt.Sprintf(replicaNginxConf, user, dir, addrs[0], addrs[1], front)
	})
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

// startNginx runs nginx in the foreground with the configuration conf(user, dir) gives, and
// waits for it to listen on front.
func startNginx(t *testing.T, bin, front string, conf func(user, dir string) string) {
	t.Helper()
	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must read the 0700 temporary directory
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf(user, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	ng := exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	if err := ng.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ng.Process.Signal(syscall.SIGQUIT)
		_ = ng.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", front, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// roundRobinConf is a plain load balancer: no routing on the session.
const roundRobinConf = `%s
worker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 256; }
http {
    access_log %[2]s/access.log;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    upstream gw { server %[3]s; server %[4]s; }
    server {
        listen %[5]s;
        location / {
            proxy_pass http://gw;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_read_timeout 300s;
        }
    }
}
`

// TestStatelessReplicasBehindRoundRobin runs two `serve --stateless --upstream` replicas with a
// policy behind plain round robin: the session lives in the upstream server, so every request
// may reach either replica, and the policy still hides and denies.
func TestStatelessReplicasBehindRoundRobin(t *testing.T) {
	requireNode(t)
	bin := nginxPath(t)
	upAddr := testenv.FreeAddr(t)
	_, port, _ := strings.Cut(upAddr, ":")
	up := exec.Command("node", everything, "streamableHttp")
	up.Env = append(os.Environ(), "PORT="+port)
	upLogs := &testenv.SyncBuffer{}
	up.Stdout, up.Stderr = upLogs, upLogs
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Process.Kill(); _ = up.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(upLogs.String(), "listening on port") {
		if time.Now().After(deadline) {
			t.Fatalf("server-everything did not start:\n%s", upLogs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte(policyYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	a := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true})
	front := testenv.FreeAddr(t)
	public := "http://" + front + "/mcp"
	var addrs []string
	var logs []*testenv.SyncBuffer
	for range 2 {
		addr := testenv.FreeAddr(t)
		cmd := exec.Command(testenv.Binary(t), "serve", "--addr", addr, "--stateless", "--policy", pol, "--upstream", "http://127.0.0.1:"+port+"/mcp")
		cmd.Env = append(os.Environ(),
			"FASTMCP_AUTH_AUTHORITY="+a.URL(), "FASTMCP_AUTH_CA_FILE="+a.CAFile(),
			"FASTMCP_AUTH_API_CLIENT_ID=fastmcp-dev-api", "FASTMCP_AUTH_PUBLIC_URL="+public)
		l := &testenv.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = l, l
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("replica logs:\n%s", l.String())
			}
		})
		testenv.WaitHealthy(t, "http://"+addr+"/healthz", 15*time.Second)
		addrs = append(addrs, addr)
		logs = append(logs, l)
	}
	startNginx(t, bin, front, func(user, dir string) string {
		return fmt.Sprintf(roundRobinConf, user, dir, addrs[0], addrs[1], front)
	})
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
