package reliability

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// nginxConf is a round-robin reverse proxy in front of the upstreams: no sticky routing (no
// ip_hash, no hash on a session header), and proxy_buffering off so that the event streams
// of a call (progress, then the result) pass through as they are written.
const nginxConf = `%s
worker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 2048; }
http {
    access_log %[2]s/access.log;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    upstream mcp {
%[3]s        keepalive 64;
    }
    server {
        listen %[4]s;
        location / {
            proxy_pass http://mcp;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 300s;
            add_header X-Upstream $upstream_addr always;
        }
    }
}
`

// nginxPath finds nginx, failing under CI and skipping otherwise when it is missing.
func nginxPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"nginx", "/usr/sbin/nginx"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if inCI() {
		t.Fatal("nginx is missing: install the Debian package (apt-get install -y nginx); the scale-out test needs it")
	}
	t.Skip("nginx is missing (apt-get install -y nginx): skipping the scale-out test")
	return ""
}

// startNginx runs nginx in the foreground as a child process, with its config, pid and logs
// in a temporary directory, proxying to upstreams; it returns the proxy's base URL.
func startNginx(t *testing.T, upstreams ...string) string {
	t.Helper()
	bin := nginxPath(t)
	dir := t.TempDir()
	addr := testenv.FreeAddr(t)
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "        server %s max_fails=0;\n", u)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must read the 0700 temporary directory
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, user, dir, servers.String(), addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful stop
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return "http://" + addr
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %s\n%s", out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s within 10s: %s", addr, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestScaleOutBehindNginx runs two `serve --stateless` instances behind nginx with
// round-robin balancing and no sticky routing: every call must succeed, with its progress,
// and both instances must have served calls.
func TestScaleOutBehindNginx(t *testing.T) {
	nginxPath(t)
	fx := newFixture(t)
	a := startServe(t, append(fx.serveArgs(), "--stateless", "--progress-interval", "0s")...)
	b := startServe(t, append(fx.serveArgs(), "--stateless", "--progress-interval", "0s")...)
	base := startNginx(t, a.addr, b.addr)

	cases := loadCases()
	for _, tc := range cases {
		t.Run(tc.duration.String()+"x"+strconv.Itoa(tc.sessions), func(t *testing.T) {
			na, nb := a.requestLines("/mcp"), b.requestLines("/mcp")
			r, err := runLoad(testCtx(t, tc.duration+2*time.Minute), loadConfig{url: base + "/mcp", token: fx.token, sessions: tc.sessions, duration: tc.duration})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // the last request lines
			da, db := a.requestLines("/mcp")-na, b.requestLines("/mcp")-nb
			report(t, "scaleout-nginx", map[string]any{"load": r, "requests_instance_a": da, "requests_instance_b": db,
				"peak_rss_mib_a": round(procStatus(a.pid(), "VmHWM") / 1024), "peak_rss_mib_b": round(procStatus(b.pid(), "VmHWM") / 1024)})
			if r.Errors != 0 || r.LostProgress != 0 || r.Calls == 0 {
				t.Errorf("%d calls, %d errors (first: %s), %d calls missing progress; want errors 0 and progress for all", r.Calls, r.Errors, r.FirstError, r.LostProgress)
			}
			// Round robin over two upstreams: each must carry a fair share, not merely one.
			if min(da, db) < (da+db)/4 {
				t.Errorf("requests per instance: %d and %d; want both to serve a fair share", da, db)
			}
		})
	}
}
