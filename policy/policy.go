// Package policy is the per-tool authorization of the gateway: an ordered list of rules read
// from YAML, each naming tools, prompts or resources by glob and deciding with a CEL
// expression over the verified token's claims, the tool's name and the call's arguments.
//
// The first rule whose globs match decides; a request no rule matches is denied. Expressions
// are compiled once, when the file is loaded, so a typo stops the server at start (or keeps
// the old policy on reload) instead of denying at run time; evaluation is then a cheap walk of
// the compiled program (cel-go's "parse and check once, evaluate many" model, see
// cel.dev/cel-go/cel's Env.Compile and Program docs).
//
// Why deny by default: an allow-list fails closed. A tool added upstream later is hidden until
// a rule names it, rather than exposed to every signed-in user.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"go.yaml.in/yaml/v3"
)

// Kind is what a request is about: a tool, a prompt or a resource.
type Kind string

// Kinds of items a rule can name.
const (
	Tool     Kind = "tool"
	Prompt   Kind = "prompt"
	Resource Kind = "resource"
)

// costLimit bounds one evaluation: a policy is trusted configuration, but an expression
// looping over a huge argument list must not stall every call.
const costLimit = 1_000_000

// Rule is one compiled rule.
type Rule struct {
	// Index is the rule's position in the file, from 0.
	Index int
	// Tools, Prompts and Resources are the rule's globs per kind; a kind with no globs is
	// not matched by the rule.
	Tools, Prompts, Resources []string
	// Allow is the CEL source of the decision.
	Allow string
	prg   cel.Program
	// listPrg evaluates with args unknown, for lists (see Input.List).
	listPrg cel.Program
}

// Globs returns the rule's globs for kind.
func (r *Rule) Globs(k Kind) []string {
	switch k {
	case Tool:
		return r.Tools
	case Prompt:
		return r.Prompts
	default:
		return r.Resources
	}
}

// Policy is a compiled, immutable rule list. A nil *Policy allows everything (no --policy).
type Policy struct {
	// Source is the file it was read from.
	Source string
	Rules  []*Rule
}

// fileRule is a rule as written in YAML.
type fileRule struct {
	Tools     []string `yaml:"tools"`
	Prompts   []string `yaml:"prompts"`
	Resources []string `yaml:"resources"`
	Allow     *string  `yaml:"allow"`
}

type file struct {
	Rules []fileRule `yaml:"rules"`
}

// Load reads and compiles the policy file at path. Its errors name the rule (index and
// globs) and say what is wrong.
func Load(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("could not read the policy: %w", err)
	}
	p, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	p.Source = path
	return p, nil
}

// env is the CEL environment every expression is compiled in. It is built on first use, not at
// package init: every command of the binary links this package, and building it costs about
// 1,000 allocations and touches much of cel-go's code, which `serve` without --policy and the
// client commands never need (issue 16: peak RSS).
var env = sync.OnceValue(func() *cel.Env {
	e, err := cel.NewEnv(
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("args", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("tool", cel.StringType),
		cel.Variable("prompt", cel.StringType),
		cel.Variable("resource", cel.StringType),
		cel.Variable("name", cel.StringType),
	)
	if err != nil {
		panic(err) // fixed declarations: cannot fail
	}
	return e
})

// Parse compiles a policy document.
func Parse(doc []byte) (*Policy, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	// Unknown keys are refused: "tool:" for "tools:" would otherwise give a rule that
	// matches nothing, silently.
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a policy document (rules: a list of {tools|prompts|resources: [globs], allow: CEL}): %w", err)
	}
	if len(f.Rules) == 0 {
		return nil, errors.New("no rules: everything would be denied; add at least one rule under \"rules\"")
	}
	p := &Policy{}
	for i, fr := range f.Rules {
		r := &Rule{Index: i, Tools: fr.Tools, Prompts: fr.Prompts, Resources: fr.Resources}
		name := r.describe()
		if len(r.Tools)+len(r.Prompts)+len(r.Resources) == 0 {
			return nil, fmt.Errorf("%s: names no tools, prompts or resources", name)
		}
		for _, g := range append(append(append([]string{}, r.Tools...), r.Prompts...), r.Resources...) {
			if strings.TrimSpace(g) == "" {
				return nil, fmt.Errorf("%s: an empty glob matches nothing; write \"*\" for all", name)
			}
		}
		if fr.Allow == nil || strings.TrimSpace(*fr.Allow) == "" {
			return nil, fmt.Errorf("%s: allow is required (a CEL expression such as \"true\" or \"'execute' in claims.scp\")", name)
		}
		r.Allow = *fr.Allow
		ast, iss := env().Compile(r.Allow)
		if iss != nil && iss.Err() != nil {
			return nil, fmt.Errorf("%s: allow does not compile: %s", name, oneLine(iss.Err().Error()))
		}
		if t := ast.OutputType(); t != cel.BoolType && t != cel.DynType {
			return nil, fmt.Errorf("%s: allow must be a boolean expression, not %s", name, t)
		}
		prg, err := env().Program(ast, cel.CostLimit(costLimit))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		r.prg = prg
		if r.listPrg, err = env().Program(ast, cel.CostLimit(costLimit), cel.EvalOptions(cel.OptPartialEval)); err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		p.Rules = append(p.Rules, r)
	}
	return p, nil
}

// describe names a rule in messages: its index and globs.
func (r *Rule) describe() string {
	var parts []string
	for _, k := range []struct {
		key   string
		globs []string
	}{{"tools", r.Tools}, {"prompts", r.Prompts}, {"resources", r.Resources}} {
		if len(k.globs) > 0 {
			parts = append(parts, k.key+": "+strings.Join(quoteAll(k.globs), ", "))
		}
	}
	return fmt.Sprintf("rule %d (%s)", r.Index, strings.Join(parts, "; "))
}

// String names the rule: "rule 0 (tools: \"get-env\", \"admin_*\")".
func (r *Rule) String() string { return r.describe() }

func quoteAll(in []string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Input is what one decision is about.
type Input struct {
	// Kind and Name: the tool or prompt name, or the resource URI.
	Kind Kind
	Name string
	// Claims is the verified token's claims (see [Claims]).
	Claims map[string]any
	// Args are the call's arguments; nil is an empty map.
	Args map[string]any
	// List decides whether the item is shown in a list, where there are no arguments: args
	// is then unknown, and an expression whose outcome depends on it lists the item (the call
	// is decided with its arguments). One that is false whatever the arguments hides it.
	List bool
}

// Decision is the outcome of [Policy.Decide].
type Decision struct {
	Allow bool
	// Rule is the rule that decided, nil when none matched (or for a groups overage).
	Rule *Rule
	// Reason says why a request was denied without its rule allowing or refusing it: no rule
	// matched, the groups overage, or the CEL evaluation error. Empty when the rule's
	// expression decided.
	Reason string
}

// RuleLabel is the deciding rule for logs and the audit trail: "0" style index, or "none".
func (d Decision) RuleLabel() string {
	if d.Rule == nil {
		return "none"
	}
	return fmt.Sprint(d.Rule.Index)
}

// Decide applies the policy to in. A nil policy allows everything.
func (p *Policy) Decide(in Input) Decision {
	if p == nil {
		return Decision{Allow: true}
	}
	if overage(in.Claims) {
		// Entra leaves the groups out and points to Graph when a user is in too many of them
		// (over 200 in a JWT): the token then cannot say whether the user is in a group, and
		// deciding without it could allow what a group rule should refuse.
		// https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference#groups-overage-claim
		return Decision{Reason: "the token has a groups overage claim (_claim_names): it lists too many groups to carry them; use app roles, or set groupMembershipClaims to ApplicationGroup on the API's app registration"}
	}
	for _, r := range p.Rules {
		if !matchAny(r.Globs(in.Kind), in.Name) {
			continue
		}
		args := in.Args
		if args == nil {
			args = map[string]any{}
		}
		claims := in.Claims
		if claims == nil {
			claims = map[string]any{}
		}
		vars := map[string]any{
			"claims": claims, "args": args, "name": in.Name,
			"tool": "", "prompt": "", "resource": "",
		}
		vars[string(in.Kind)] = in.Name
		var out ref.Val
		var err error
		if in.List {
			act, aerr := cel.PartialVars(vars, cel.AttributePattern("args"))
			if aerr != nil {
				return Decision{Rule: r, Reason: "evaluation error: " + aerr.Error()}
			}
			out, _, err = r.listPrg.Eval(act)
			if err == nil && types.IsUnknown(out) {
				return Decision{Allow: true, Rule: r}
			}
		} else {
			out, _, err = r.prg.Eval(vars)
		}
		if err != nil {
			return Decision{Rule: r, Reason: "evaluation error: " + oneLine(err.Error())}
		}
		allow, ok := out.Value().(bool)
		if !ok {
			return Decision{Rule: r, Reason: fmt.Sprintf("allow gave %v, not a boolean", out.Value())}
		}
		return Decision{Allow: allow, Rule: r}
	}
	return Decision{Reason: "no rule matches this " + string(in.Kind)}
}
