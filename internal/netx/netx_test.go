package netx

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestIsLoopbackHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "localhost:8000": true,
		"127.0.0.1": true, "127.1.2.3": true, "127.0.0.1:443": true,
		"::1": true, "[::1]": true, "[::1]:8000": true, "::1%lo": true,
		"::ffff:127.0.0.1": true, // an IPv4-mapped loopback address is loopback
		"":                 false, "example.com": false, "localhost.": false, "foo.localhost": false,
		"localhost.example.com": false, "128.0.0.1": false, "0.0.0.0": false, "::": false,
		"10.0.0.1": false, "[::2]:80": false, "127.0.0.1.nip.io": false,
	} {
		if got := IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestIsLoopbackURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]bool{
		"http://localhost:8000/cb": true, "https://127.0.0.1/": true, "http://[::1]:9/x": true,
		"https://example.com/cb": false, "http://localhost@evil.example/": false,
		"/relative": false, "%zz": false, "": false,
	} {
		if got := IsLoopbackURL(raw); got != want {
			t.Errorf("IsLoopbackURL(%q) = %v, want %v", raw, got, want)
		}
	}
}

func TestCheckTokenURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url       string
		allowHTTP bool
		refused   bool
	}{
		{"http://mcp.example.com/mcp", false, true},
		{"HTTP://10.0.0.5:8000/mcp", false, true},
		{"http://localhost.evil.example/mcp", false, true},
		{"http://mcp.example.com/mcp", true, false},
		{"https://mcp.example.com/mcp", false, false},
		{"http://localhost:8000/mcp", false, false},
		{"http://127.0.0.1:8000/mcp", false, false},
		{"http://[::1]:8000/mcp", false, false},
	} {
		err := CheckTokenURL(tc.url, tc.allowHTTP)
		if refused := err != nil; refused != tc.refused {
			t.Errorf("CheckTokenURL(%q, %v) = %v, want refused=%v", tc.url, tc.allowHTTP, err, tc.refused)
			continue
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrPlainHTTP) {
			t.Errorf("CheckTokenURL(%q) error %v does not wrap ErrPlainHTTP", tc.url, err)
		}
		for _, want := range []string{"--allow-http", "clear text", "https"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("CheckTokenURL(%q) error %q lacks %q", tc.url, err, want)
			}
		}
	}
}

func TestOrigin(t *testing.T) {
	t.Parallel()
	same := [][2]string{
		{"https://Example.com/a", "https://example.com:443/b"},
		{"http://example.com", "HTTP://example.com:80/x?y"},
		{"http://[::1]:8000/", "http://[::1]:8000/mcp"},
	}
	different := [][2]string{
		{"https://example.com", "http://example.com"},
		{"https://example.com", "https://example.com:8443"},
		{"https://example.com", "https://api.example.com"},
		{"http://localhost:8000", "http://127.0.0.1:8000"},
	}
	origin := func(s string) string {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return Origin(u)
	}
	for _, p := range same {
		if a, b := origin(p[0]), origin(p[1]); a != b {
			t.Errorf("Origin(%s) = %s, Origin(%s) = %s: want equal", p[0], a, p[1], b)
		}
	}
	for _, p := range different {
		if a, b := origin(p[0]), origin(p[1]); a == b {
			t.Errorf("Origin(%s) = Origin(%s) = %s: want different", p[0], p[1], a)
		}
	}
}

// recorder is a test server that records the Authorization header of each request.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	auth []string
}

func newRecorder(t *testing.T, h http.HandlerFunc) *recorder {
	t.Helper()
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.auth = append(r.auth, req.Header.Get("Authorization"))
		r.mu.Unlock()
		_, _ = io.Copy(io.Discard, req.Body)
		if h != nil {
			h(w, req)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.auth...)
}

// TestRedirectKeepsTokenHome forges the audit's case: the server redirects to the same host
// name on another port (Go's default policy keeps Authorization there). With CheckRedirect the
// redirect is refused and the other port never sees a request; a same-origin redirect is
// followed with the token.
func TestRedirectKeepsTokenHome(t *testing.T) {
	t.Parallel()
	other := newRecorder(t, nil)
	// other listens on 127.0.0.1 like home: same host name, another port.
	home := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/stolen", http.StatusTemporaryRedirect)
		case "/here":
			http.Redirect(w, r, "/there", http.StatusTemporaryRedirect)
		}
	})

	// Control: the default policy hands the token to the other port.
	send := func(c *http.Client, path string) error {
		req, _ := http.NewRequest(http.MethodPost, home.URL+path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer secret")
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := send(&http.Client{}, "/away"); err != nil {
		t.Fatal(err)
	}
	if got := other.seen(); len(got) != 1 || got[0] != "Bearer secret" {
		t.Fatalf("control: Go's default policy sent %q to the other port; the test no longer reproduces the leak", got)
	}

	err := send(&http.Client{CheckRedirect: CheckRedirect}, "/away")
	if !errors.Is(err, ErrCrossOriginRedirect) {
		t.Fatalf("cross-origin redirect: error %v, want ErrCrossOriginRedirect", err)
	}
	if got := other.seen(); len(got) != 1 {
		t.Errorf("the other origin received %d requests after CheckRedirect, want none", len(got)-1)
	}
	if err := send(&http.Client{CheckRedirect: CheckRedirect}, "/here"); err != nil {
		t.Fatalf("same-origin redirect: %v", err)
	}
	if got := home.seen(); got[len(got)-1] != "Bearer secret" {
		t.Errorf("same-origin redirect dropped the token: %q", got)
	}
}

// TestGuardAuthorization checks that the guard strips the header for any other origin, even
// when the client follows the redirect with Go's default policy.
func TestGuardAuthorization(t *testing.T) {
	t.Parallel()
	other := newRecorder(t, nil)
	home := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/away" {
			http.Redirect(w, r, other.URL+"/stolen", http.StatusTemporaryRedirect)
		}
	})
	guard, err := GuardAuthorization(nil, home.URL+"/mcp")
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: guard}
	for _, target := range []string{home.URL + "/away", other.URL + "/direct"} {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		req.Header.Set("Authorization", "Bearer secret")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if req.Header.Get("Authorization") == "" {
			t.Error("the guard modified the caller's request")
		}
	}
	for _, a := range other.seen() {
		if a != "" {
			t.Errorf("the other origin received Authorization %q", a)
		}
	}
	if got := home.seen(); len(got) != 1 || got[0] != "Bearer secret" {
		t.Errorf("home received %q, want the token once", got)
	}
	if _, err := GuardAuthorization(nil, "/relative"); err == nil {
		t.Error("GuardAuthorization accepted a relative URL")
	}
}
