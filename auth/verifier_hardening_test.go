package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth/authtest"
	"github.com/fastmcp-auth/fastmcp-auth/internal/netx"
)

// payloadWith returns the JSON of claims with extra members (raw JSON, e.g. `"AUD":"x"`)
// appended after them, so that they come later than every claim of the map.
func payloadWith(t *testing.T, claims map[string]any, extra string) []byte {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "}")
	if extra != "" {
		s += "," + extra
	}
	return []byte(s + "}")
}

// TestVerifyHostileClaims forges the tokens of the issue 10 audit: claim names repeated in
// another case (encoding/json let the later "AUD" or "SCP" win), a token bound to nobody, and
// an exp centuries away. Each must be refused with the reason and description the issue names.
func TestVerifyHostileClaims(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := f.verifier(t)
	short := f.verifier(t, func(c *VerifierConfig) { c.MaxTokenLifetime = time.Hour })
	now := f.clock.Now()
	good := claimsAt(now, "execute")
	wrongAud := with(good, "aud", "api://other-api")
	readOnly := with(good, "scp", "read")
	ours, _ := json.Marshal(testAPI)
	mint := func(claims map[string]any, extra string) string {
		return authtest.MintPayload(t, f.k1, payloadWith(t, claims, extra))
	}

	tests := []struct {
		name  string
		v     *Verifier
		token string
		want  Reason // "" for accepted
		desc  string
	}{
		{"AUD overrides a foreign aud", v, mint(wrongAud, `"AUD":`+string(ours)), ReasonMalformed, `token repeats the claim "aud"`},
		{"Aud overrides a foreign aud", v, mint(wrongAud, `"Aud":`+string(ours)), ReasonMalformed, `token repeats the claim "aud"`},
		{"AUD alone is not aud", v, mint(with(good, "aud", nil), `"AUD":`+string(ours)), ReasonWrongAudience, "audience is not accepted"},
		{"SCP overrides scp", v, mint(readOnly, `"SCP":"execute"`), ReasonMalformed, `token repeats the claim "scp"`},
		{"ISS overrides iss", v, mint(with(good, "iss", "https://evil.example/v2.0"), `"ISS":"`+testIssuerV2+`"`), ReasonMalformed, `token repeats the claim "iss"`},
		{"exact repeat", v, mint(good, `"aud":"api://other-api"`), ReasonMalformed, `token repeats the claim "aud"`},
		{"Unicode fold (long s) of sub", v, mint(good, `"ſub":"someone-else"`), ReasonMalformed, `token repeats the claim "sub"`},
		{"Kelvin sign fold of a claim we skip", v, mint(with(good, "kid_hint", "x"), `"\u212aid_hint":"y"`), ReasonMalformed, `token repeats the claim "kid_hint"`},
		{"unknown claim repeated", v, mint(with(good, "xms_cc", "a"), `"XMS_CC":"b"`), ReasonMalformed, `token repeats the claim "xms_cc"`},
		{"odd name not echoed", v, mint(with(good, "a\"b\r\n", "a"), `"A\"B\r\n":"b"`), ReasonMalformed, `token repeats the claim "?"`},
		{"trailing data", v, authtest.MintPayload(t, f.k1, append(payloadWith(t, good, ""), []byte(`{}`)...)), ReasonMalformed, "not a JSON object"},
		{"payload is an array", v, authtest.MintPayload(t, f.k1, []byte(`[1]`)), ReasonMalformed, "not a JSON object"},
		{"neither sub nor oid", v, authtest.Mint(t, f.k1, with(good, "sub", nil, "oid", nil)), ReasonNoSubject, "token names no subject (sub or oid)"},
		{"empty sub and oid", v, authtest.Mint(t, f.k1, with(good, "sub", "", "oid", "")), ReasonNoSubject, "token names no subject (sub or oid)"},
		{"SUB does not stand for sub", v, mint(with(good, "sub", nil, "oid", nil), `"SUB":"x","OID":"y"`), ReasonNoSubject, "token names no subject"},
		{"oid only", v, authtest.Mint(t, f.k1, with(good, "sub", nil)), "", ""},
		{"sub only", v, authtest.Mint(t, f.k1, with(good, "oid", nil)), "", ""},
		{"exp 1e300", v, mint(with(good, "exp", nil), `"exp":1e300`), ReasonLifetimeTooLong, "token lifetime exceeds the accepted maximum"},
		{"exp in 49 hours", v, authtest.Mint(t, f.k1, with(good, "exp", now.Add(49*time.Hour).Unix())), ReasonLifetimeTooLong, "token lifetime exceeds the accepted maximum"},
		{"exp in 47 hours", v, authtest.Mint(t, f.k1, with(good, "exp", now.Add(47*time.Hour).Unix())), "", ""},
		{"exp in 2 hours, maximum 1h", short, authtest.Mint(t, f.k1, with(good, "exp", now.Add(2*time.Hour).Unix())), ReasonLifetimeTooLong, "token lifetime exceeds the accepted maximum"},
		{"exp in 59 minutes, maximum 1h", short, authtest.Mint(t, f.k1, with(good, "exp", now.Add(59*time.Minute).Unix())), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := tt.v.Verify(context.Background(), tt.token)
			if got := reasonOf(t, err); got != tt.want {
				t.Fatalf("reason = %q, want %q (err %v)", got, tt.want, err)
			}
			if err == nil {
				if id.User() == "" {
					t.Error("accepted identity is bound to no user")
				}
				return
			}
			if !strings.Contains(err.Error(), tt.desc) {
				t.Errorf("description %q does not contain %q", err.Error(), tt.desc)
			}
		})
	}
}

// TestVerifyHeaderNamesExact checks the header gets the same treatment: a repeated parameter
// is refused, and "CRIT" is not "crit" (header parameter names are case-sensitive).
func TestVerifyHeaderNamesExact(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := f.verifier(t)
	good := claimsAt(f.clock.Now(), "execute")
	for _, tc := range []struct {
		name   string
		header map[string]any
		want   Reason
	}{
		{"KID repeats kid", map[string]any{"KID": "k2"}, ReasonMalformed},
		{"CRIT is not crit", map[string]any{"CRIT": []string{"b64"}}, ""},
	} {
		_, err := v.Verify(context.Background(), authtest.MintWith(t, f.k1, tc.header, good, "RS256"))
		if got := reasonOf(t, err); got != tc.want {
			t.Errorf("%s: reason %q, want %q (err %v)", tc.name, got, tc.want, err)
		}
	}
}

func TestNewVerifierRefusesNegativeLifetime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.config()
	cfg.MaxTokenLifetime = -time.Hour
	if _, err := NewVerifier(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "lifetime") {
		t.Fatalf("NewVerifier with a negative lifetime: %v", err)
	}
}

// TestKeySetAndDiscoveryStayOnOrigin: a key set or discovery URL redirecting to another origin
// (here the same host on another port, serving an attacker's keys) is refused, whatever client
// the caller passed; the other origin is never asked.
func TestKeySetAndDiscoveryStayOnOrigin(t *testing.T) {
	t.Parallel()
	attacker := authtest.NewJWKSServer(t, authtest.NewKey(t, "evil"))
	redirect := newHTTPServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, attacker.URL, http.StatusFound)
	})
	hc, err := NewHTTPClient("")
	if err != nil {
		t.Fatal(err)
	}
	for name, client := range map[string]*http.Client{"NewHTTPClient": hc, "default client": nil} {
		f := newFixture(t)
		cfg := f.config()
		cfg.JWKSURI = redirect.URL + "/keys"
		cfg.HTTPClient = client
		if _, err := NewVerifier(context.Background(), cfg); !errors.Is(err, netx.ErrCrossOriginRedirect) {
			t.Errorf("%s: NewVerifier through a cross-origin redirect: %v, want ErrCrossOriginRedirect", name, err)
		}
		if _, err := Discover(context.Background(), client, redirect.URL+"/tenant"); !errors.Is(err, netx.ErrCrossOriginRedirect) {
			t.Errorf("%s: Discover through a cross-origin redirect: %v, want ErrCrossOriginRedirect", name, err)
		}
	}
	if n := attacker.Fetches(); n != 0 {
		t.Errorf("the other origin was asked %d times, want never", n)
	}
}
