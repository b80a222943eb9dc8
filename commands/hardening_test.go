package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/fastmcp-auth/fastmcp-auth/auth/authtest"
)

// Tests of the issue 10 hardening at the command level. Like the other command-line tests
// they are not parallel (see serve_test.go).

// TestServeRefusesHostileTokens runs serve and forges the audit's tokens: each gets 401
// invalid_token with the description the issue names, in the challenge.
func TestServeRefusesHostileTokens(t *testing.T) {
	const tenant, api = "11111111-2222-3333-4444-555555555555", "api-client"
	key := authtest.NewKey(t, "k1")
	jwks := authtest.NewJWKSServer(t, key)
	iss := "https://login.microsoftonline.com/" + tenant + "/v2.0"
	srv := startServe(t, "--jwks-uri", jwks.URL, "--issuer", iss, "--api-client-id", api, "--max-token-lifetime", "2h")

	good := func() map[string]any { return authtest.EntraV2Claims(tenant, iss, api, "execute") }
	noSubject := good()
	delete(noSubject, "sub")
	delete(noSubject, "oid")
	longLived := good()
	longLived["exp"] = time.Now().Add(3 * time.Hour).Unix()
	foreign := good()
	foreign["aud"] = "other-api"
	payload, _ := json.Marshal(foreign)
	repeated := authtest.MintPayload(t, key, []byte(strings.TrimSuffix(string(payload), "}")+`,"AUD":"`+api+`"}`))

	for _, tc := range []struct {
		name, token, desc string
	}{
		{"claim repeated in another case", repeated, "token repeats the claim 'aud'"},
		{"no subject", authtest.Mint(t, key, noSubject), "token names no subject (sub or oid)"},
		{"exp beyond --max-token-lifetime", authtest.Mint(t, key, longLived), "token lifetime exceeds the accepted maximum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, challenge, _ := post(t, srv.base+"/reverse", tc.token, `{"input_string":"abc"}`)
			if status != 401 || !strings.Contains(challenge, `error="invalid_token"`) || !strings.Contains(challenge, tc.desc) {
				t.Errorf("status %d, challenge %q; want 401 invalid_token with %q", status, challenge, tc.desc)
			}
		})
	}
	if status, _, _ := post(t, srv.base+"/reverse", authtest.Mint(t, key, good()), `{"input_string":"abc"}`); status != 200 {
		t.Errorf("a good token got %d", status)
	}
}

func TestServeMaxTokenLifetimeSetting(t *testing.T) {
	s, err := parseServe(t, "--no-auth")
	if err != nil || s.MaxTokenLifetime != 48*time.Hour {
		t.Fatalf("default --max-token-lifetime %v (%v), want 48h", s.MaxTokenLifetime, err)
	}
	t.Setenv("FASTMCP_AUTH_MAX_TOKEN_LIFETIME", "30h")
	if s, err := parseServe(t, "--no-auth"); err != nil || s.MaxTokenLifetime != 30*time.Hour {
		t.Fatalf("FASTMCP_AUTH_MAX_TOKEN_LIFETIME=30h gave %v (%v)", s.MaxTokenLifetime, err)
	}
	for _, v := range []string{"0s", "-1h"} {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), []string{"fastmcp-auth", "serve", "--no-auth", "--max-token-lifetime", v}, &stdout, &stderr)
		if code != ExitUsage || !strings.Contains(stderr.String(), "error: --max-token-lifetime must be a positive duration") {
			t.Errorf("--max-token-lifetime %s: exit %d, stderr %q", v, code, stderr.String())
		}
	}
}

// TestWarnExposure: a server reachable from other machines says once what it lacks; a
// loopback one says nothing.
func TestWarnExposure(t *testing.T) {
	const clearText, hostHeader = "bearer tokens travel in clear text", "takes its URL from each request's Host header"
	for _, tc := range []struct {
		name string
		s    serveSettings
		want []string
	}{
		{"all interfaces, auth, no TLS, no public URL", serveSettings{Addr: "0.0.0.0:8000", derivedURL: true}, []string{clearText, hostHeader}},
		{"empty host", serveSettings{Addr: ":8000", derivedURL: true}, []string{clearText, hostHeader}},
		{"LAN address, public URL", serveSettings{Addr: "192.0.2.1:8000", PublicURL: "https://mcp.example.com/mcp"}, []string{clearText}},
		{"TLS, public URL", serveSettings{Addr: "0.0.0.0:8443", TLSCert: "c.pem"}, nil},
		{"no auth, all interfaces", serveSettings{Addr: "0.0.0.0:8000", NoAuth: true, derivedURL: true}, []string{hostHeader}},
		{"loopback v4", serveSettings{Addr: "127.0.0.1:8000", derivedURL: true}, nil},
		{"loopback v6", serveSettings{Addr: "[::1]:8000", derivedURL: true}, nil},
		{"localhost", serveSettings{Addr: "localhost:8000", derivedURL: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			warnExposure(&tc.s, slog.New(slog.NewJSONHandler(&buf, nil)))
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(tc.want) == 0 {
				if buf.Len() != 0 {
					t.Errorf("logged %q, want nothing", buf.String())
				}
				return
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("logged %d lines, want %d: %q", len(lines), len(tc.want), buf.String())
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d %q lacks %q", i, lines[i], w)
				}
			}
		})
	}
}
