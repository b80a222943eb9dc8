package devauthority_test

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// fakeClock is a settable clock for Config.Now, starting at the real time.
type fakeClock = testenv.Clock

func newFakeClock() *fakeClock { return testenv.NewClock(time.Now()) }

// exchange is one request/response seen by the recorder.
type exchange struct {
	path   string
	form   url.Values
	status int
	body   map[string]any
}

// recorder is an MSAL HTTP client that records what went over the wire, so tests assert
// protocol facts (polls answered pending, rotated refresh tokens) rather than guess.
type recorder struct {
	c  *http.Client
	mu sync.Mutex
	ex []exchange
}

func newRecorder(a *devauthority.Authority) *recorder { return &recorder{c: a.HTTPClient()} }

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	var form url.Values
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		form, _ = url.ParseQuery(string(b))
	}
	resp, err := r.c.Do(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	var body map[string]any
	_ = json.Unmarshal(b, &body)
	r.mu.Lock()
	r.ex = append(r.ex, exchange{path: req.URL.Path, form: form, status: resp.StatusCode, body: body})
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) CloseIdleConnections() { r.c.CloseIdleConnections() }

// count returns how many token endpoint answers had the given error ("" for successes).
func (r *recorder) count(errCode string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.ex {
		if strings.HasSuffix(e.path, "/oauth2/v2.0/token") {
			if got, _ := e.body["error"].(string); got == errCode {
				n++
			}
		}
	}
	return n
}

// refreshTokens returns the refresh tokens issued so far, in order.
func (r *recorder) refreshTokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.ex {
		if rt, ok := e.body["refresh_token"].(string); ok {
			out = append(out, rt)
		}
	}
	return out
}

// deviceResult is the outcome of a device code sign-in MSAL polls for.
type deviceResult struct {
	res public.AuthResult
	err error
}

// pendingDevice is a device code sign-in MSAL has started against a fresh authority a: the
// code dc awaits the user's decision at /device, and done receives the outcome of MSAL's polls.
type pendingDevice struct {
	a    *devauthority.Authority
	rec  *recorder // every token request MSAL sent a
	ctx  context.Context
	dc   public.DeviceCode
	done <-chan deviceResult
}

// startDevice starts an authority with cfg and MSAL's device code flow for testScope against
// it (through a recorder), and has MSAL poll in the background. ctx, which also bounds the
// polls, ends after timeout or with the test. An error starting the flow fails t.
func startDevice(t *testing.T, cfg devauthority.Config, timeout time.Duration) *pendingDevice {
	t.Helper()
	p := &pendingDevice{a: testenv.DevAuthority(t, cfg), ctx: testenv.Context(t, timeout)}
	p.rec = newRecorder(p.a)
	dc, err := newPublic(t, p.a, p.rec).AcquireTokenByDeviceCode(p.ctx, []string{testScope})
	if err != nil {
		t.Fatalf("AcquireTokenByDeviceCode: %v", err)
	}
	p.dc, p.done = dc, awaitDevice(p.ctx, dc)
	return p
}

// awaitDevice has MSAL poll for dc in the background; the channel receives the outcome.
func awaitDevice(ctx context.Context, dc public.DeviceCode) <-chan deviceResult {
	done := make(chan deviceResult, 1)
	go func() {
		res, err := dc.AuthenticationResult(ctx)
		done <- deviceResult{res, err}
	}()
	return done
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// browser is an HTTP client with a cookie jar that fills the /device form as a person would.
type browser struct {
	t      *testing.T
	c      *http.Client
	origin string
}

func newBrowser(t *testing.T, a *devauthority.Authority) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := a.HTTPClient()
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	u, _ := url.Parse(a.URL())
	return &browser{t: t, c: c, origin: u.Scheme + "://" + u.Host}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// get fetches a page and returns status, body and the form's CSRF token.
func (b *browser) get(path string) (int, string, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.origin + path)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := csrfField.FindStringSubmatch(string(body))
	tok := ""
	if m != nil {
		tok = html.UnescapeString(m[1])
	}
	return resp.StatusCode, string(body), tok
}

// post submits a form with the Origin header a browser sends.
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.origin+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.origin)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// decide enters userCode on /device, continues, then presses approve or decline; it returns
// the final page.
func (b *browser) decide(userCode, action string) (int, string) {
	b.t.Helper()
	_, _, tok := b.get("/device")
	resp, body := b.post("/device", url.Values{"csrf": {tok}, "user_code": {userCode}, "action": {"continue"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="approve"`) {
		b.t.Fatalf("continue: status %d, no consent screen:\n%s", resp.StatusCode, body)
	}
	resp, body = b.post("/device", url.Values{"csrf": {tok}, "user_code": {userCode}, "action": {action}})
	return resp.StatusCode, body
}

// verify validates an access token as a resource server would: key from the JWKS (which,
// like Entra's, has no alg), issuer, audience, time.
func verify(t *testing.T, a *devauthority.Authority, token string, clk *fakeClock) jwt.Token {
	t.Helper()
	return verifyFor(t, a, token, clk, "fastmcp-dev-api")
}

// verifyFor is verify for a token whose audience is aud.
func verifyFor(t *testing.T, a *devauthority.Authority, token string, clk *fakeClock, aud string) jwt.Token {
	t.Helper()
	ctx := context.Background()
	set, err := jwk.Fetch(ctx, strings.TrimSuffix(a.URL(), "/")+"/discovery/v2.0/keys", jwk.WithHTTPClient(a.HTTPClient()))
	if err != nil {
		t.Fatalf("fetch JWKS: %v", err)
	}
	opts := []jwt.ParseOption{
		jwt.WithKeySet(set, jws.WithInferAlgorithmFromKey(true)),
		jwt.WithValidate(true),
		jwt.WithIssuer(a.Issuer()),
		jwt.WithAudience(aud),
	}
	if clk != nil {
		opts = append(opts, jwt.WithClock(jwt.ClockFunc(clk.Now)))
	}
	tok, err := jwt.ParseString(token, opts...)
	if err != nil {
		t.Fatalf("access token does not verify: %v", err)
	}
	return tok
}

func claim(tok jwt.Token, name string) any {
	v, _ := tok.Get(name)
	return v
}

// postForm posts a form to the authority and decodes the JSON answer.
func postForm(t *testing.T, a *devauthority.Authority, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.URL()+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := doJSON(t, a, req)
	return resp.StatusCode, body
}

// doJSON sends req with the authority's client (which trusts its CA) and returns the answer,
// its body closed, and the JSON object it held; a transport error or a body that is not JSON
// fails t.
func doJSON(t *testing.T, a *devauthority.Authority, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := a.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s %s: status %d, body not JSON: %v", req.Method, req.URL.Path, resp.StatusCode, err)
	}
	return resp, body
}

// getJSON GETs url from the authority and returns the JSON object of the answer (doJSON).
func getJSON(t *testing.T, a *devauthority.Authority, url string) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, doc := doJSON(t, a, req)
	return doc
}

func readAll(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i+len(start):]
	if j := strings.Index(s, end); j >= 0 {
		return s[:j]
	}
	return s
}
