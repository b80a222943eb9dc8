package auth

import (
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/fastmcp-auth/fastmcp-auth/auth/authtest"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

const (
	testTenant   = "11111111-2222-3333-4444-555555555555"
	otherTenant  = "99999999-8888-7777-6666-555555555555"
	testAPI      = "00000000-0000-0000-0000-0000000000ab"
	testIssuerV2 = "https://login.microsoftonline.com/" + testTenant + "/v2.0"
	testIssuerV1 = "https://sts.windows.net/" + testTenant + "/"
)

// claimsAt returns Entra v2 claims valid for an hour from now.
func claimsAt(now time.Time, scopes ...string) map[string]any {
	c := authtest.EntraV2Claims(testTenant, testIssuerV2, testAPI, scopes...)
	c["iat"], c["nbf"], c["exp"] = now.Unix(), now.Unix(), now.Add(time.Hour).Unix()
	return c
}

// with returns a copy of c with the given claims set (nil value: removed).
func with(c map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

type fixture struct {
	k1, k2 *authtest.Key
	srv    *authtest.JWKSServer
	clock  *testenv.Clock
}

// keys are costly to generate; tests share two.
var (
	sharedKeysOnce sync.Once
	sharedK1       *authtest.Key
	sharedK2       *authtest.Key
)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	sharedKeysOnce.Do(func() {
		sharedK1 = authtest.NewKey(t, "k1")
		sharedK2 = authtest.NewKey(t, "k2")
	})
	return &fixture{k1: sharedK1, k2: sharedK2, srv: authtest.NewJWKSServer(t, sharedK1), clock: testenv.NewClock(time.Unix(1_800_000_000, 0))}
}

func (f *fixture) config() VerifierConfig {
	return VerifierConfig{
		JWKSURI:   f.srv.URL + "/discovery/v2.0/keys",
		Issuers:   []string{testIssuerV2, testIssuerV1},
		Audiences: DefaultAudiences(testAPI, ""),
		ClockSkew: time.Minute,
		Now:       f.clock.Now,
	}
}

func (f *fixture) verifier(t testing.TB, mod ...func(*VerifierConfig)) *Verifier {
	t.Helper()
	cfg := f.config()
	for _, m := range mod {
		m(&cfg)
	}
	v, err := NewVerifier(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}

// reasonOf returns the Reason of a Verify error, or "" for success.
func reasonOf(t *testing.T, err error) Reason {
	t.Helper()
	if err == nil {
		return ""
	}
	var te *TokenError
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T) is not a *TokenError", err, err)
	}
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("error %v does not match ErrInvalidToken", err)
	}
	return te.Reason
}

func TestVerifyRejectsForgedTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := f.verifier(t)
	now := f.clock.Now()
	good := claimsAt(now, "execute")
	valid := authtest.Mint(t, f.k1, good)
	parts := strings.Split(valid, ".")
	otherPayload, _ := json.Marshal(with(good, "scp", "execute admin"))
	ecKey := authtest.NewECKey(t, "k1", elliptic.P256())

	tests := []reasonCase{
		{"wrong key", authtest.MintWith(t, f.k2, map[string]any{"kid": "k1"}, good, "RS256"), ReasonBadSignature, "token signature is invalid"},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString(otherPayload) + "." + parts[2], ReasonBadSignature, "token signature is invalid"},
		{"truncated signature", parts[0] + "." + parts[1] + "." + parts[2][:40], ReasonBadSignature, "token signature is invalid"},
		{"empty signature", parts[0] + "." + parts[1] + ".", ReasonBadSignature, "token signature is invalid"},
		{"alg none", authtest.MintWith(t, f.k1, nil, good, "none"), ReasonUnsupportedAlgorithm, "none is not accepted"},
		{"alg missing", authtest.MintWith(t, f.k1, map[string]any{"alg": nil}, good, "RS256"), ReasonUnsupportedAlgorithm, "names no algorithm"},
		{"HS256 keyed with the public key PEM", authtest.MintWith(t, f.k1, nil, good, "HS256"), ReasonUnsupportedAlgorithm, "HS256 is not accepted"},
		{"HS256 keyed with the public JWK bytes", authtest.MintHMAC(t, f.k1.PublicJWK(), map[string]any{"kid": "k1"}, good, "HS256"), ReasonUnsupportedAlgorithm, "HS256 is not accepted"},
		{"unregistered alg not echoed", authtest.MintWith(t, f.k1, map[string]any{"alg": "RS256\r\nX-Evil: 1"}, good, "RS256"), ReasonUnsupportedAlgorithm, "token algorithm is not supported"},
		{"ES256 header on an RSA key", authtest.MintWith(t, ecKey, nil, good, "ES256"), ReasonUnsupportedAlgorithm, "does not match its signing key"},
		{"unknown kid", authtest.MintWith(t, f.k2, map[string]any{"kid": "nope"}, good, "RS256"), ReasonUnknownKey, "token signed by an unknown key"},
		{"no kid", authtest.MintWith(t, f.k1, map[string]any{"kid": nil}, good, "RS256"), ReasonUnknownKey, "names no signing key"},
		{"expired", authtest.Mint(t, f.k1, with(good, "exp", now.Add(-2*time.Minute).Unix())), ReasonExpired, "token expired at"},
		{"expired exactly at the skew", authtest.Mint(t, f.k1, with(good, "exp", now.Add(-time.Minute).Unix())), ReasonExpired, "token expired at"},
		{"not yet valid", authtest.Mint(t, f.k1, with(good, "nbf", now.Add(2*time.Minute).Unix())), ReasonNotYetValid, "not valid before"},
		{"issued in the future", authtest.Mint(t, f.k1, with(good, "iat", now.Add(2*time.Minute).Unix())), ReasonNotYetValid, "issued in the future"},
		{"no exp", authtest.Mint(t, f.k1, with(good, "exp", nil)), ReasonMissingExpiration, "no expiration"},
		{"null exp", authtest.Mint(t, f.k1, with(good, "exp", json.RawMessage("null"))), ReasonMissingExpiration, "no expiration"},
		{"wrong aud", authtest.Mint(t, f.k1, with(good, "aud", "api://someone-else")), ReasonWrongAudience, "token audience is not accepted"},
		{"no aud", authtest.Mint(t, f.k1, with(good, "aud", nil)), ReasonWrongAudience, "token audience is not accepted"},
		{"wrong iss", authtest.Mint(t, f.k1, with(good, "iss", "https://evil.example/v2.0")), ReasonWrongIssuer, "token issuer is not accepted"},
		{"another tenant's issuer", authtest.Mint(t, f.k1, with(good, "iss", "https://login.microsoftonline.com/"+otherTenant+"/v2.0", "tid", otherTenant)), ReasonWrongIssuer, "token issuer is not accepted"},
		{"claims of the wrong type", authtest.Mint(t, f.k1, with(good, "exp", "tomorrow")), ReasonMalformed, "claims"},
		{"crit header", authtest.MintWith(t, f.k1, map[string]any{"crit": []string{"b64"}, "b64": false}, good, "RS256"), ReasonMalformed, "crit"},
		{"garbage", "not a token", ReasonMalformed, "compact form"},
		{"empty", "", ReasonMalformed, "compact form"},
		{"four parts", valid + ".x", ReasonMalformed, "compact form"},
		{"header not base64", "%%%." + parts[1] + "." + parts[2], ReasonMalformed, "header is not base64url"},
		{"header not JSON", base64.RawURLEncoding.EncodeToString([]byte("[1]")) + "." + parts[1] + "." + parts[2], ReasonMalformed, "header is not a JSON object"},
		{"oversized", authtest.Mint(t, f.k1, with(good, "pad", strings.Repeat("a", MaxTokenBytes))), ReasonTooLarge, "larger than 16 KiB"},
	}
	checkReasons(t, v, tests)
}

func TestVerifyAcceptsEntraTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := f.verifier(t)
	now := f.clock.Now()
	exp := now.Add(time.Hour)

	v2 := claimsAt(now, "execute", "read")
	v1 := authtest.EntraV1Claims(testTenant, "api://"+testAPI, "execute")
	v1["iat"], v1["nbf"], v1["exp"] = now.Unix(), now.Unix(), exp.Unix()
	app := with(claimsAt(now), "roles", []string{"execute"}, "name", nil, "preferred_username", nil, "oid", "app-oid", "sub", "app-oid")

	base := Identity{
		Subject: "sub-" + authtest.ObjectID, ObjectID: authtest.ObjectID, TenantID: testTenant,
		ClientID: authtest.ClientID, Name: "Ada Lovelace", Username: authtest.Username,
		Issuer: testIssuerV2, Audience: []string{testAPI}, Expiry: time.Unix(exp.Unix(), 0), KeyID: "k1",
	}
	tests := []struct {
		name   string
		claims map[string]any
		want   func(id *Identity)
	}{
		{"v2 delegated", v2, func(id *Identity) { id.Scopes = []string{"execute", "read"}; id.Version = "2.0" }},
		{"v1 delegated: upn and appid", v1, func(id *Identity) {
			id.Issuer, id.Audience, id.Scopes, id.Version = testIssuerV1, []string{"api://" + testAPI}, []string{"execute"}, "1.0"
		}},
		{"app-only: roles, no scp", app, func(id *Identity) {
			id.Subject, id.ObjectID, id.Name, id.Username, id.Roles, id.Version = "app-oid", "app-oid", "", "", []string{"execute"}, "2.0"
		}},
		{"aud array, scope claim", with(v2, "aud", []string{"other", "api://" + testAPI}, "scp", nil, "scope", "execute"), func(id *Identity) {
			id.Audience, id.Scopes, id.Version = []string{"other", "api://" + testAPI}, []string{"execute"}, "2.0"
		}},
		{"expired but within the skew", with(v2, "exp", now.Add(-30*time.Second).Unix()), func(id *Identity) {
			id.Scopes, id.Version, id.Expiry = []string{"execute", "read"}, "2.0", time.Unix(now.Add(-30*time.Second).Unix(), 0)
		}},
		{"fractional exp", with(v2, "exp", float64(exp.Unix())+0.5), func(id *Identity) {
			id.Scopes, id.Version, id.Expiry = []string{"execute", "read"}, "2.0", time.Unix(exp.Unix(), 5e8)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want := base
			tt.want(&want)
			token := authtest.Mint(t, f.k1, tt.claims)
			for _, pass := range []string{"fresh", "cached"} {
				got, err := v.Verify(context.Background(), token)
				if err != nil {
					t.Fatalf("%s: Verify: %v", pass, err)
				}
				// Claims is the verified payload, for gateway policies: checked by content here.
				if !json.Valid(got.Claims) || !strings.Contains(string(got.Claims), `"iss":`) {
					t.Errorf("%s: Claims is not the token's payload: %q", pass, got.Claims)
				}
				if diff := cmp.Diff(&want, got, cmpopts.IgnoreFields(Identity{}, "Claims")); diff != "" {
					t.Errorf("%s: identity mismatch (-want +got):\n%s", pass, diff)
				}
				got.Scopes = append(got.Scopes[:0], "tampered") // must not reach the cache
			}
		})
	}
}

func TestVerifyIdentityMissing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := f.verifier(t)
	now := f.clock.Now()
	tests := []struct {
		name   string
		claims map[string]any
		want   []string
	}{
		{"delegated with execute", claimsAt(now, "execute"), nil},
		{"delegated without execute", claimsAt(now, "read"), []string{"execute"}},
		{"app-only with the role", with(claimsAt(now), "roles", []string{"execute"}), nil},
		{"app-only without the role", with(claimsAt(now), "roles", []string{"read"}), []string{"execute"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := v.Verify(context.Background(), authtest.Mint(t, f.k1, tt.claims))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, id.Missing([]string{"execute"})); diff != "" {
				t.Errorf("Missing (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyOtherAlgorithms(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ec := authtest.NewECKey(t, "ec1", elliptic.P256())
	ec384 := authtest.NewECKey(t, "ec2", elliptic.P384())
	f.srv.SetKeys(f.k1, ec, ec384)
	v := f.verifier(t)
	c := claimsAt(f.clock.Now(), "execute")
	tests := []reasonCase{
		{"PS256", authtest.MintWith(t, f.k1, nil, c, "PS256"), "", ""},
		{"RS512", authtest.MintWith(t, f.k1, nil, c, "RS512"), "", ""},
		{"ES256 on P-256", authtest.MintWith(t, ec, nil, c, "ES256"), "", ""},
		{"ES384 on P-384", authtest.MintWith(t, ec384, nil, c, "ES384"), "", ""},
		{"ES256 header on a P-384 key", authtest.MintWith(t, ec384, map[string]any{"alg": "ES256"}, c, "ES384"), ReasonUnsupportedAlgorithm, ""},
		{"RS256 header on an EC key", authtest.MintWith(t, f.k1, map[string]any{"kid": "ec1"}, c, "RS256"), ReasonUnsupportedAlgorithm, ""},
	}
	checkReasons(t, v, tests)
}

// reasonCase is a token and the reason Verify must give for it ("" for success), with a
// substring of the description for a rejection.
type reasonCase struct {
	name  string
	token string
	want  Reason
	desc  string
}

// checkReasons verifies each case's token with v, in parallel subtests. A rejection must
// return no identity, and its description (which goes into a WWW-Authenticate header) must
// contain the case's desc, echo no part of the token and hold no CR, LF or quote.
func checkReasons(t *testing.T, v *Verifier, cases []reasonCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id, err := v.Verify(context.Background(), tt.token)
			if got := reasonOf(t, err); got != tt.want {
				t.Fatalf("reason = %q, want %q (err %v)", got, tt.want, err)
			}
			if err == nil {
				return
			}
			if id != nil {
				t.Errorf("identity %+v returned with an error", id)
			}
			desc := err.Error()
			if !strings.Contains(desc, tt.desc) {
				t.Errorf("description %q does not contain %q", desc, tt.desc)
			}
			for _, p := range strings.Split(tt.token, ".") {
				if len(p) > 8 && strings.Contains(desc, p) {
					t.Errorf("description %q echoes part of the token", desc)
				}
			}
			if strings.ContainsAny(desc, "\r\n\"") {
				t.Errorf("description %q has characters unsafe in a WWW-Authenticate header", desc)
			}
		})
	}
}

func TestKeySetSkipsUnusableKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ed := authtest.NewEdKey(t, "okp")
	small := smallRSAKey(t)
	var good map[string]any
	_ = json.Unmarshal(f.k1.PublicJWK(), &good)
	withAlg := with(good, "kid", "k1-rs384", "alg", "RS384")
	set := map[string]any{"keys": []any{
		json.RawMessage(ed.PublicJWK()),
		map[string]any{"kty": "RSA", "kid": "broken", "n": "!!!", "e": "AQAB"},
		map[string]any{"kty": "RSA", "kid": "no-e", "n": good["n"]},
		map[string]any{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
		map[string]any{"kty": "EC", "kid": "k256", "crv": "secp256k1", "x": "AA", "y": "AA"},
		with(good, "kid", "enc", "use", "enc"),
		with(good, "kid", "hs", "alg", "HS256"),
		with(good, "kid", nil),
		json.RawMessage(small.PublicJWK()),
		"not an object",
		good,
		withAlg,
	}}
	body, _ := json.Marshal(set)
	f.srv.SetBody(body)
	v := f.verifier(t)

	if diff := cmp.Diff([]string{"k1", "k1-rs384"}, sortedKids(v.keys.Load())); diff != "" {
		t.Errorf("usable kids (-want +got):\n%s", diff)
	}
	c := claimsAt(f.clock.Now(), "execute")
	tests := []reasonCase{
		{"good key still works", authtest.Mint(t, f.k1, c), "", ""},
		{"key alg member is honoured", authtest.MintWith(t, f.k1, map[string]any{"kid": "k1-rs384"}, c, "RS384"), "", ""},
		{"key alg member restricts", authtest.MintWith(t, f.k1, map[string]any{"kid": "k1-rs384"}, c, "RS256"), ReasonUnsupportedAlgorithm, ""},
		{"skipped OKP key", authtest.MintWith(t, ed, nil, c, "EdDSA"), ReasonUnsupportedAlgorithm, ""},
		{"skipped small key", authtest.MintWith(t, small, nil, c, "RS256"), ReasonUnknownKey, ""},
		{"skipped enc key", authtest.MintWith(t, f.k1, map[string]any{"kid": "enc"}, c, "RS256"), ReasonUnknownKey, ""},
	}
	checkReasons(t, v, tests)
}

func TestNewVerifierFailsFast(t *testing.T) {
	t.Parallel()
	// A port that was just free: nothing listens there.
	deadURL := "http://" + testenv.FreeAddr(t) + "/keys"

	f := newFixture(t)
	noKeys := authtest.NewJWKSServer(t)
	failing := authtest.NewJWKSServer(t, f.k1)
	failing.SetStatus(http.StatusServiceUnavailable)
	tests := []struct {
		name        string
		mod         func(*VerifierConfig)
		unreachable bool
		contains    string
	}{
		{"unreachable key set", func(c *VerifierConfig) { c.JWKSURI = deadURL }, true, deadURL},
		{"key set answers 503", func(c *VerifierConfig) { c.JWKSURI = failing.URL }, true, failing.URL},
		{"empty key set", func(c *VerifierConfig) { c.JWKSURI = noKeys.URL }, true, "no usable signing key"},
		{"plain http to a remote host", func(c *VerifierConfig) { c.JWKSURI = "http://login.example.com/keys" }, false, "must use https"},
		{"relative URL", func(c *VerifierConfig) { c.JWKSURI = "/keys" }, false, "not an absolute URL"},
		{"no JWKS URI", func(c *VerifierConfig) { c.JWKSURI = "" }, false, "--jwks-uri"},
		{"no issuer", func(c *VerifierConfig) { c.Issuers = nil }, false, "issuer is required"},
		{"no audience", func(c *VerifierConfig) { c.Audiences = []string{""} }, false, "audience is required"},
		{"negative skew", func(c *VerifierConfig) { c.ClockSkew = -time.Second }, false, "clock skew"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := f.config()
			tt.mod(&cfg)
			v, err := NewVerifier(context.Background(), cfg)
			if err == nil {
				v.Close()
				t.Fatal("NewVerifier succeeded")
			}
			if got := errors.Is(err, ErrUnreachable); got != tt.unreachable {
				t.Errorf("errors.Is(ErrUnreachable) = %v, want %v (err %v)", got, tt.unreachable, err)
			}
			if got := errors.Is(err, ErrKeySetUnavailable); got != tt.unreachable {
				t.Errorf("errors.Is(ErrKeySetUnavailable) = %v, want %v (err %v)", got, tt.unreachable, err)
			}
			if !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q does not contain %q", err, tt.contains)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := f.verifier(t)
	ctx := context.Background()
	c := claimsAt(f.clock.Now(), "execute")
	old := authtest.Mint(t, f.k1, c)
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatalf("token by k1: %v", err)
	}

	// The authority publishes k2: the first token signed with it causes one refresh.
	f.srv.SetKeys(f.k1, f.k2)
	if _, err := v.Verify(ctx, authtest.Mint(t, f.k2, c)); err != nil {
		t.Fatalf("token by the new key k2: %v", err)
	}
	if got := v.KeySetFetches(); got != 2 {
		t.Errorf("fetches after the new kid = %d, want 2", got)
	}

	// The authority withdraws k1. The next refresh (here caused by another unknown kid, after
	// the rate limit) must drop the cached verification of the k1 token.
	f.srv.SetKeys(f.k2)
	f.clock.Advance(DefaultMinRefreshInterval + time.Second)
	if _, err := v.Verify(ctx, authtest.MintWith(t, f.k2, map[string]any{"kid": "k3"}, c, "RS256")); reasonOf(t, err) != ReasonUnknownKey {
		t.Fatalf("unknown kid k3: %v", err)
	}
	if got := v.KeySetFetches(); got != 3 {
		t.Errorf("fetches after k3 = %d, want 3", got)
	}
	if got := v.cache.len(); got != 1 {
		t.Errorf("cache entries after k1 left = %d, want 1 (the k2 token)", got)
	}
	if _, err := v.Verify(ctx, old); reasonOf(t, err) != ReasonUnknownKey {
		t.Errorf("cached token by the withdrawn key: err %v, want unknown_key", err)
	}
	if got := v.KeySetFetches(); got != 3 {
		t.Errorf("fetches = %d, want 3: the unknown-kid refresh is rate limited", got)
	}
}

func TestKeySetOutageKeepsCachedKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := f.verifier(t)
	ctx := context.Background()
	c := claimsAt(f.clock.Now(), "execute")

	f.srv.SetStatus(http.StatusInternalServerError)
	// A refresh is attempted (unknown kid) and fails.
	if _, err := v.Verify(ctx, authtest.MintWith(t, f.k2, nil, c, "RS256")); reasonOf(t, err) != ReasonUnknownKey {
		t.Fatalf("unknown kid during the outage: %v", err)
	}
	if got := f.srv.Fetches(); got != 2 {
		t.Fatalf("JWKS server fetches = %d, want 2 (startup + failed refresh)", got)
	}
	// A token never seen before, signed by the cached key, still verifies.
	if _, err := v.Verify(ctx, authtest.Mint(t, f.k1, with(c, "jti", "fresh"))); err != nil {
		t.Errorf("token by the cached key during the outage: %v", err)
	}
}

func TestBackgroundRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := f.verifier(t, func(c *VerifierConfig) { c.RefreshInterval = 20 * time.Millisecond })
	f.srv.SetKeys(f.k2)
	deadline := time.Now().Add(5 * time.Second)
	for v.keys.Load().get("k2") == nil {
		if time.Now().After(deadline) {
			t.Fatal("the background refresh never loaded k2")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := v.Verify(context.Background(), authtest.Mint(t, f.k2, claimsAt(f.clock.Now()))); err != nil {
		t.Errorf("token by k2 after the background refresh: %v", err)
	}
	v.Close()
	n := f.srv.Fetches()
	time.Sleep(60 * time.Millisecond)
	if got := f.srv.Fetches(); got != n {
		t.Errorf("fetches went on after Close: %d -> %d", n, got)
	}
}

func TestUnknownKidBurst(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := f.verifier(t)
	f.srv.SetDelay(100 * time.Millisecond) // the refresh is slow, so the callers pile up
	c := claimsAt(f.clock.Now())
	const callers = 50
	tokens := make([]string, callers)
	for i := range tokens {
		tokens[i] = authtest.MintWith(t, f.k2, map[string]any{"kid": "unknown-" + string(rune('A'+i))}, c, "RS256")
	}
	before := v.KeySetFetches()

	var wg sync.WaitGroup
	reasons := make([]Reason, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { _, errs[i] = v.Verify(context.Background(), tokens[i]) })
	}
	wg.Wait()
	for i, err := range errs {
		reasons[i] = reasonOf(t, err)
	}
	want := make([]Reason, callers)
	for i := range want {
		want[i] = ReasonUnknownKey
	}
	if diff := cmp.Diff(want, reasons); diff != "" {
		t.Errorf("reasons (-want +got):\n%s", diff)
	}
	if got := v.KeySetFetches() - before; got != 1 {
		t.Errorf("extra fetches for the burst = %d, want 1", got)
	}

	// Within MinRefreshInterval no unknown kid fetches again; after it, one does.
	f.srv.SetDelay(0)
	f.clock.Advance(DefaultMinRefreshInterval - time.Second)
	_, _ = v.Verify(context.Background(), tokens[0])
	if got := v.KeySetFetches() - before; got != 1 {
		t.Errorf("extra fetches within the interval = %d, want 1", got)
	}
	f.clock.Advance(2 * time.Second)
	_, _ = v.Verify(context.Background(), tokens[1])
	if got := v.KeySetFetches() - before; got != 2 {
		t.Errorf("extra fetches after the interval = %d, want 2", got)
	}
	if got := int64(f.srv.Fetches()); got != v.KeySetFetches() {
		t.Errorf("server saw %d fetches, verifier counted %d", got, v.KeySetFetches())
	}
}

func TestCachedTokenExpiresLikeUncached(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cached := f.verifier(t)
	uncached := f.verifier(t, func(c *VerifierConfig) { c.CacheSize = -1 })
	now := f.clock.Now()
	token := authtest.Mint(t, f.k1, with(claimsAt(now), "exp", now.Add(10*time.Second).Unix()))
	if _, err := cached.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		want    Reason
	}{
		{0, ""},
		{69 * time.Second, ""},           // exp + skew not reached yet
		{1 * time.Second, ReasonExpired}, // now == exp + skew
		{time.Hour, ReasonExpired},
	}
	for _, s := range steps {
		f.clock.Advance(s.advance)
		_, errC := cached.Verify(context.Background(), token)
		_, errU := uncached.Verify(context.Background(), token)
		if got := reasonOf(t, errC); got != s.want {
			t.Errorf("at %v cached: reason %q, want %q", f.clock.Now().Sub(now), got, s.want)
		}
		if got := reasonOf(t, errU); got != s.want {
			t.Errorf("at %v uncached: reason %q, want %q", f.clock.Now().Sub(now), got, s.want)
		}
	}
	if uncached.cache != nil {
		t.Error("CacheSize -1 still made a cache")
	}
}

func TestVerifiedCacheIsBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := f.verifier(t, func(c *VerifierConfig) { c.CacheSize = 8 })
	c := claimsAt(f.clock.Now())
	for i := range 20 {
		if _, err := v.Verify(context.Background(), authtest.Mint(t, f.k1, with(c, "jti", i))); err != nil {
			t.Fatal(err)
		}
		if n := v.cache.len(); n > 8 {
			t.Fatalf("cache holds %d entries, bound is 8", n)
		}
	}
}

// sortedKids lists a key set's kids in order.
func sortedKids(s *keySet) []string {
	kids := s.kids()
	slices.Sort(kids)
	return kids
}

// smallRSAKey returns a 1024-bit RSA key, below the accepted minimum.
func smallRSAKey(t *testing.T) *authtest.Key {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	return &authtest.Key{KeyID: "small", Signer: priv}
}
