package commands

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/devauthority"
	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestLoginExplainsEntraErrors: each Entra error a first sign-in meets ends login with exit 3,
// the authority's AADSTS code and one sentence saying what to set.
func TestLoginExplainsEntraErrors(t *testing.T) {
	da := testenv.DevAuthority(t, devauthority.Config{AutoApprove: true, ConfidentialClients: []string{"web-app"}, RequireConsent: []string{"read"}})
	base := []string{"--authority", da.URL(), "--ca-file", da.CAFile(), "--api-client-id", devauthority.DefaultAPIClientID}
	const api = "api://" + devauthority.DefaultAPIClientID
	for _, tt := range []struct {
		name   string
		args   []string
		code   string
		advice string
	}{
		{"bare scope", []string{"--client-id", "c1", "--scope", "execute"}, "AADSTS650053", "request it in full as <app-id-uri>/<name>"},
		{"unknown API", []string{"--client-id", "c1", "--scope", "api://nobody/execute"}, "AADSTS500011", "check --api-client-id and --app-id-uri"},
		{"scope not exposed", []string{"--client-id", "c1", "--scope", api + "/delete"}, "AADSTS65005", "add it under Expose an API"},
		{"confidential client", []string{"--client-id", "web-app"}, "AADSTS7000218", "Allow public client flows to Yes"},
		{"consent", []string{"--client-id", "c2", "--scope", api + "/read"}, "AADSTS65001", "Grant admin consent"},
	} {
		args := append(append([]string{}, base...), tt.args...)
		args = append(args, "--cache-file", filepath.Join(t.TempDir(), "c.json"))
		out, errOut, code := runCLI(cliCtx(t), "login", args...)
		// The device prompt may precede it; the error is one line.
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		last := lines[len(lines)-1]
		if code != ExitAuth || out != "" || !strings.HasPrefix(last, "error: ") || !strings.Contains(last, tt.code) || !strings.Contains(last, tt.advice) {
			t.Errorf("%s: exit %d, stderr %q; want exit 3, one line with %s and %q", tt.name, code, errOut, tt.code, tt.advice)
		}
	}
}

// TestServeAcceptsDevAuthorityV1Tokens: serve, with its defaults, pointed at a development
// authority issuing v1 tokens (--token-version 1), reads the v1 discovery document and accepts
// them (v1 issuer, aud = identifier URI), as it accepts Entra's.
func TestServeAcceptsDevAuthorityV1Tokens(t *testing.T) {
	da := testenv.DevAuthority(t, devauthority.Config{TokenVersion: 1})
	srv := startServe(t, "--authority", da.URL(), "--ca-file", da.CAFile(), "--api-client-id", devauthority.DefaultAPIClientID)
	tok, err := da.IssueAccessToken("", []string{"execute"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	status, _, body := post(t, srv.base+"/reverse", tok, `{"input_string":"ab"}`)
	if status != 200 || body["reversed"] != "ba" {
		t.Errorf("v1 token: %d %v, want 200 ba", status, body)
	}
	if !strings.Contains(srv.stderr.String(), da.IssuerV1()) {
		t.Errorf("serving line does not list the v1 issuer %s: %s", da.IssuerV1(), srv.stderr.String())
	}
}

// TestExplainAADSTS: each Entra error login knows gets its one-sentence fix appended, among
// them those the development authority never produces (its client registrations are open).
func TestExplainAADSTS(t *testing.T) {
	t.Parallel()
	for code, advice := range map[string]string{
		"700016":  "check --client-id",
		"700025":  "must not send a secret",
		"50011":   "as a Mobile and desktop applications redirect URI",
		"9002326": "Single-page application",
		"65001":   "Grant admin consent",
		"1234567": "",
	} {
		err := explainAADSTS(errors.New("sign-in failed: invalid_client: AADSTS" + code + ": something. Trace ID: x"))
		if got := err.Error(); (advice == "") != !strings.Contains(got, "; ") || !strings.Contains(got, advice) || strings.Contains(got, "\n") {
			t.Errorf("AADSTS%s: %q, want one line with %q", code, got, advice)
		}
	}
}
