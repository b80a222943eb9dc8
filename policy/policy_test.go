package policy

import (
	"strings"
	"testing"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

const sample = `
rules:
  - tools: ["get-env", "admin_*"]
    allow: "'Admin' in claims.roles"
  - tools: ["echo"]
    allow: "args.message != 'forbidden'"
  - tools: ["add"]
    allow: "claims.missing == 'x'"
  - tools: ["*"]
    allow: "'execute' in claims.scp"
  - prompts: ["simple-*"]
    allow: "true"
  - resources: ["demo://resource/static/*"]
    allow: "'g1' in claims.groups"
`

func mustParse(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func claims(t *testing.T, payload string) map[string]any {
	t.Helper()
	c, err := Claims([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDecide(t *testing.T) {
	t.Parallel()
	p := mustParse(t, sample)
	user := `{"oid":"u1","scp":"execute read","roles":[]}`
	admin := `{"oid":"a1","scp":"execute","roles":["Admin"],"groups":["g1"]}`
	noScope := `{"oid":"u2","scp":"read"}`
	overage := `{"oid":"u3","scp":"execute","roles":["Admin"],"_claim_names":{"groups":"src1"},"_claim_sources":{"src1":{"endpoint":"https://graph"}}}`
	tests := []struct {
		name      string
		kind      Kind
		item      string
		claims    string
		args      map[string]any
		allow     bool
		rule      string
		reasonHas string
	}{
		{"admin tool, user", Tool, "get-env", user, nil, false, "0", ""},
		{"admin tool, admin", Tool, "admin_reset", admin, nil, true, "0", ""},
		{"first match decides, not a later allow", Tool, "get-env", user, nil, false, "0", ""},
		{"args allow", Tool, "echo", user, map[string]any{"message": "hi"}, true, "1", ""},
		{"args deny", Tool, "echo", user, map[string]any{"message": "forbidden"}, false, "1", ""},
		{"args missing is an error, denied", Tool, "echo", user, nil, false, "1", "evaluation error"},
		{"missing claim denies", Tool, "add", admin, nil, false, "2", "evaluation error"},
		{"catch-all with scope", Tool, "anything", user, nil, true, "3", ""},
		{"catch-all without scope", Tool, "anything", noScope, nil, false, "3", ""},
		{"prompt allowed", Prompt, "simple-prompt", noScope, nil, true, "4", ""},
		{"prompt without rule denied", Prompt, "complex", admin, nil, false, "none", "no rule"},
		{"resource by group", Resource, "demo://resource/static/document/a.md", admin, nil, true, "5", ""},
		{"resource without group", Resource, "demo://resource/static/document/a.md", user, nil, false, "5", ""},
		{"resource without rule", Resource, "file:///etc/passwd", admin, nil, false, "none", "no rule"},
		{"groups overage denied", Tool, "anything", overage, nil, false, "none", "overage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := p.Decide(Input{Kind: tt.kind, Name: tt.item, Claims: claims(t, tt.claims), Args: tt.args})
			if d.Allow != tt.allow || d.RuleLabel() != tt.rule || !strings.Contains(d.Reason, tt.reasonHas) {
				t.Errorf("got allow=%v rule=%s reason=%q, want allow=%v rule=%s reason~%q", d.Allow, d.RuleLabel(), d.Reason, tt.allow, tt.rule, tt.reasonHas)
			}
		})
	}
}

func TestListWithUnknownArgs(t *testing.T) {
	t.Parallel()
	p := mustParse(t, sample)
	user := claims(t, `{"oid":"u1","scp":"execute"}`)
	// echo's rule depends on args only: listed, and decided at call time.
	if d := p.Decide(Input{Kind: Tool, Name: "echo", Claims: user, List: true}); !d.Allow {
		t.Errorf("echo hidden from the list: %+v", d)
	}
	// get-env's rule is false whatever the arguments: hidden.
	if d := p.Decide(Input{Kind: Tool, Name: "get-env", Claims: user, List: true}); d.Allow {
		t.Error("get-env listed for a user without the role")
	}
	// A missing claim is still an error, so hidden.
	if d := p.Decide(Input{Kind: Tool, Name: "add", Claims: user, List: true}); d.Allow {
		t.Error("add listed despite an evaluation error")
	}
}

func TestNilPolicyAllows(t *testing.T) {
	t.Parallel()
	var p *Policy
	if !p.Decide(Input{Kind: Tool, Name: "x"}).Allow {
		t.Fatal("nil policy denied")
	}
}

func TestParseErrorsNameTheRule(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, doc, want string }{
		{"bad CEL", "rules:\n  - tools: [a]\n    allow: \"true\"\n  - tools: [\"b*\"]\n    allow: \"claims.roles +\"\n", `rule 1 (tools: "b*"): allow does not compile`},
		{"not boolean", "rules:\n  - tools: [a]\n    allow: \"'x'\"\n", "rule 0 (tools: \"a\"): allow must be a boolean"},
		{"missing allow", "rules:\n  - prompts: [p]\n", "rule 0 (prompts: \"p\"): allow is required"},
		{"no globs", "rules:\n  - allow: \"true\"\n", "rule 0 (): names no tools"},
		{"unknown key", "rules:\n  - tool: [a]\n    allow: \"true\"\n", "field tool not found"},
		{"no rules", "rules: []\n", "no rules"},
		{"unknown variable", "rules:\n  - tools: [a]\n    allow: \"user == 'x'\"\n", "undeclared reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		glob, name string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything/at/all", true},
		{"admin_*", "admin_x", true},
		{"admin_*", "xadmin_x", false},
		{"get-?nv", "get-env", true},
		{"file:///docs/*", "file:///docs/a/b.md", true},
		{"file:///docs/*", "file:///etc/passwd", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"[x]", "[x]", true},
	}
	for _, tt := range tests {
		if got := Match(tt.glob, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.glob, tt.name, got, tt.want)
		}
	}
}

func TestHolderReloadKeepsOldOnError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(s string) string { return testenv.WriteFile(t, dir, "policy.yaml", s) }
	path := write("rules:\n  - tools: [a]\n    allow: \"true\"\n")
	h, err := NewHolder(path)
	if err != nil {
		t.Fatal(err)
	}
	write("rules:\n  - tools: [a]\n    allow: \"nope(\"\n")
	if err := h.Reload(); err == nil {
		t.Fatal("bad policy reloaded")
	}
	if !h.Current().Decide(Input{Kind: Tool, Name: "a"}).Allow {
		t.Fatal("the old policy was not kept")
	}
	write("rules:\n  - tools: [b]\n    allow: \"true\"\n")
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	if h.Current().Decide(Input{Kind: Tool, Name: "a"}).Allow {
		t.Fatal("the new policy is not in force")
	}
}

func TestClaimsScpSplitAndDefaults(t *testing.T) {
	t.Parallel()
	c := claims(t, `{"scp":"a b","n":3}`)
	if l, _ := c["scp"].([]any); len(l) != 2 || l[1] != "b" {
		t.Errorf("scp = %v", c["scp"])
	}
	if l, ok := c["roles"].([]any); !ok || len(l) != 0 {
		t.Errorf("roles = %v", c["roles"])
	}
	if c["n"] != 3.0 {
		t.Errorf("n = %#v", c["n"])
	}
}

// TestClaimsRefusesWhatIsNotAnObject: a payload of JSON null (or another non-object) is an
// error, not a panic and not an empty claim set; an empty payload is the empty claim set (the
// gateway's caller without a token).
func TestClaimsRefusesWhatIsNotAnObject(t *testing.T) {
	t.Parallel()
	for _, payload := range []string{"null", " null\n", "[]", `"x"`, "1", "not json"} {
		if c, err := Claims([]byte(payload)); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
			t.Errorf("Claims(%q) = %v, %v; want an error saying it is not a JSON object", payload, c, err)
		}
	}
	c, err := Claims(nil)
	if err != nil || len(c["scp"].([]any)) != 0 {
		t.Errorf("Claims(nil) = %v, %v; want the empty claims", c, err)
	}
}
