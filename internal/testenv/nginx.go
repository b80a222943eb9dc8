package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// nginxConf is the frame of the configuration StartNginx writes: one worker in the
// foreground, with its pid, logs and temporary files in the test's directory (%[2]s), so that
// it runs unprivileged and leaves nothing behind. %[1]s is the user line, %[3]d the worker
// connections and %[4]s the directives inside the http block.
const nginxConf = `%[1]s
worker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections %[3]d; }
http {
    access_log %[2]s/access.log;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
%[4]s}
`

// NginxPath returns the nginx binary, or calls Missing when it is not installed.
func NginxPath(t testing.TB) string {
	t.Helper()
	return LookPath(t, "nginx is missing: install the Debian package (apt-get install -y nginx)", "nginx", "/usr/sbin/nginx")
}

// StartNginx runs nginx in the foreground as a child process with httpBlock (upstreams, maps
// and servers) as the content of its http block and workerConnections per worker, waits until
// front (host:port, where httpBlock listens) accepts connections, and stops nginx gracefully
// at cleanup. It fails t if nginx exits or does not listen within 10s.
func StartNginx(t testing.TB, front string, workerConnections int, httpBlock string) {
	t.Helper()
	bin := NginxPath(t)
	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers must read the 0700 temporary directory
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, user, dir, workerConnections, httpBlock)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	out := &SyncBuffer{}
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
		c, err := net.DialTimeout("tcp", front, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited: %s\n%s", out.String(), log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not listen on %s within 10s: %s\n%s", front, out.String(), log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
