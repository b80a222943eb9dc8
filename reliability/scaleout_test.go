package reliability

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// nginxHTTP is the http block of a round-robin reverse proxy in front of the upstreams
// (%[1]s, server lines) listening on %[2]s: no sticky routing (no ip_hash, no hash on a session
// header), and proxy_buffering off so that the event streams of a call (progress, then the
// result) pass through as they are written.
const nginxHTTP = `    upstream mcp {
%[1]s        keepalive 64;
    }
    server {
        listen %[2]s;
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
`

// startNginx runs nginx (testenv.StartNginx) proxying to upstreams round robin and returns
// the proxy's base URL.
func startNginx(t *testing.T, upstreams ...string) string {
	t.Helper()
	addr := testenv.FreeAddr(t)
	var servers strings.Builder
	for _, u := range upstreams {
		fmt.Fprintf(&servers, "        server %s max_fails=0;\n", u)
	}
	testenv.StartNginx(t, addr, 2048, fmt.Sprintf(nginxHTTP, servers.String(), addr))
	return "http://" + addr
}

// TestScaleOutBehindNginx runs two `serve --stateless` instances behind nginx with
// round-robin balancing and no sticky routing: every call must succeed, with its progress,
// and both instances must have served calls.
func TestScaleOutBehindNginx(t *testing.T) {
	testenv.NginxPath(t)
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
