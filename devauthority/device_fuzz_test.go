package devauthority

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// fuzzHost is the Host the fuzzed requests carry: a loopback name, as hostAllowed requires
// (the handler is not listening, so any port passes).
const fuzzHost = "127.0.0.1:8443"

// deviceFuzzer is one authority with a device code waiting for a person, a browser's CSRF
// cookie and token for its page, and a clock the fuzz loop moves.
type deviceFuzzer struct {
	mu       sync.Mutex
	a        *Authority
	now      time.Time
	userCode string
	cookie   string
	csrf     string
	runs     int
}

func newDeviceFuzzer(f *testing.F) *deviceFuzzer {
	fz := &deviceFuzzer{now: time.Now()}
	a, err := New(Config{Addr: "127.0.0.1:0", StateDir: f.TempDir(), Now: func() time.Time { return fz.now }})
	if err != nil {
		f.Fatal(err)
	}
	fz.a = a
	fz.cookie = strings.Repeat("c", 43) // the length ensureCSRFCookie keeps
	fz.csrf = a.csrfToken(fz.cookie)
	fz.newDeviceCode(f)
	return fz
}

// newDeviceCode starts a fresh device authorization and remembers its user code.
func (fz *deviceFuzzer) newDeviceCode(tb testing.TB) {
	form := url.Values{"client_id": {"fuzz-client"}, "scope": {"api://" + DefaultAPIClientID + "/execute offline_access"}}
	rec := fz.do(http.MethodPost, "/dev/oauth2/v2.0/devicecode", form.Encode(), false)
	var resp struct {
		UserCode string `json:"user_code"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &resp) != nil || resp.UserCode == "" {
		tb.Fatalf("device code: %d %s", rec.Code, rec.Body.String())
	}
	fz.userCode = resp.UserCode
}

// do sends one form post through the authority's handler.
func (fz *deviceFuzzer) do(method, path, body string, withCookie bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "https://"+fuzzHost+path, strings.NewReader(body))
	req.Host = fuzzHost
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if withCookie {
		req.AddCookie(&http.Cookie{Name: csrfCookie, Value: fz.cookie})
	}
	rec := httptest.NewRecorder()
	fz.a.Handler().ServeHTTP(rec, req)
	return rec
}

// FuzzDeviceForm posts arbitrary form bodies to the device-code form handler (the /device
// page's POST, with and without a valid CSRF token) and to the device code and token
// endpoints that MSAL posts forms to. "USERCODE" in the input is replaced by the user code
// waiting for approval, so the fuzzer reaches the consent and decision paths. It must never
// panic or answer 5xx; the page must answer HTML with the statuses it documents and never
// reflect markup unescaped; the endpoints must answer an OAuth JSON error or a token.
func FuzzDeviceForm(f *testing.F) {
	fz := newDeviceFuzzer(f)
	f.Add(uint8(0), "user_code=USERCODE&action=continue")
	f.Add(uint8(0), "user_code=USERCODE&action=approve")
	f.Add(uint8(0), "user_code=usercode&action=decline")
	f.Add(uint8(0), "user_code=%3Cscript%3Ealert(1)%3C%2Fscript%3E&action=continue")
	f.Add(uint8(1), "user_code=USERCODE&action=approve&csrf=forged")
	f.Add(uint8(0), "user_code=USERCODE&user_code=BCDF-GHJK&action=approve")
	f.Add(uint8(0), "%zz=1&action")
	f.Add(uint8(2), "client_id=fuzz&scope=api%3A%2F%2Ffastmcp-dev-api%2Fexecute")
	f.Add(uint8(2), "client_id=fuzz&client_id=other&scope=openid")
	f.Add(uint8(3), "grant_type=urn:ietf:params:oauth:grant-type:device_code&client_id=fuzz-client&device_code=dev.x")
	f.Add(uint8(3), "grant_type=refresh_token&client_id=c&refresh_token=%00%ff&scope=openid")
	f.Add(uint8(3), "grant_type=client_credentials&client_id=c&client_secret=s&scope=api%3A%2F%2Ffastmcp-dev-api%2F.default")

	f.Fuzz(func(t *testing.T, mode uint8, body string) {
		fz.mu.Lock()
		defer fz.mu.Unlock()
		// Move the clock so that the wrong-code rate limit (20 a minute) rarely stops the
		// fuzzer, and start a new device code now and then (approved or declined ones are
		// single use, and codes expire after 15 minutes).
		fz.now = fz.now.Add(4 * time.Second)
		if fz.runs++; fz.runs%50 == 0 {
			fz.newDeviceCode(t)
		}
		body = strings.ReplaceAll(body, "USERCODE", url.QueryEscape(fz.userCode))

		var rec *httptest.ResponseRecorder
		switch mode % 4 {
		case 0: // the page's form, with the browser's valid CSRF token
			rec = fz.do(http.MethodPost, "/device", body+"&csrf="+url.QueryEscape(fz.csrf), true)
		case 1: // the page's form as sent, CSRF token only if the input has one
			rec = fz.do(http.MethodPost, "/device", body, true)
		case 2:
			rec = fz.do(http.MethodPost, "/dev/oauth2/v2.0/devicecode", body, false)
		default:
			rec = fz.do(http.MethodPost, "/dev/oauth2/v2.0/token", body, false)
		}
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		out := rec.Body.String()
		switch mode % 4 {
		case 0, 1:
			switch rec.Code {
			case http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusTooManyRequests:
			default:
				t.Fatalf("/device answered %d", rec.Code)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("/device answered %q", rec.Header().Get("Content-Type"))
			}
			if strings.Contains(out, "<script>alert") || strings.Contains(out, "<fuzz") {
				t.Fatal("the page reflected markup from the form")
			}
		default:
			var j map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &j); err != nil {
				t.Fatalf("%d: not JSON: %v: %.200s", rec.Code, err, out)
			}
			if rec.Code != http.StatusOK {
				if _, ok := j["error"].(string); !ok {
					t.Fatalf("%d without an OAuth error field: %.200s", rec.Code, out)
				}
			}
		}
	})
}
