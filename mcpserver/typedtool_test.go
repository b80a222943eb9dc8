package mcpserver

import (
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/internal/testenv"
)

// TestTypedToolMatchesSDK calls reverse_tool as registered by register (raw AddTool, schemas
// resolved once, fast path) and as the SDK's typed mcp.AddTool registers the same handler,
// with the same arguments, and wants the same listing and the same result, byte for byte:
// valid and invalid arguments of every shape, and generated ones.
func TestTypedToolMatchesSDK(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, 60*time.Second)
	tl := &tools{logger: discardLogger()}

	connect := func(register func(*mcp.Server)) *mcp.ClientSession {
		s := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
		register(s)
		return connectInMemory(t, ctx, s)
	}
	ours := connect(func(s *mcp.Server) { tl.register(s) })
	sdk := connect(func(s *mcp.Server) { mcp.AddTool(s, reverseToolDef(), tl.reverse) })

	listing := func(cs *mcp.ClientSession) string {
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, tool := range res.Tools {
			if tool.Name == ReverseToolName {
				b, _ := json.Marshal(tool)
				return string(b)
			}
		}
		t.Fatal("reverse_tool not listed")
		return ""
	}
	if diff := cmp.Diff(listing(sdk), listing(ours)); diff != "" {
		t.Fatalf("listing differs (-sdk +ours):\n%s", diff)
	}

	args := []string{
		"", `null`, `{}`, `[]`, `5`, `"q"`, `{"query":"hello"}`, `{"query":""}`, `{"query":null}`, `{"query":5}`,
		`{"query":["a"]}`, `{"query":{"a":1}}`, `{"query":true}`, `{"Query":"x"}`, `{"QUERY":"x"}`, `{"query ":"x"}`,
		`{"query":"x","extra":1}`, `{"extra":1,"query":"x"}`, `{"query":"a","query":"b"}`, `{"query":"a","query":null}`,
		`{"query":null,"query":"a"}`, `{"query":"e\u0301🇫🇷 <&> \u2028 \"q\" \\ \/"}`, `{"query":"\ud800x\udc00"}`,
		`{"query":"ab` + "\xff\xfe" + `c\u0301"}`, `{"query":"` + strings.Repeat("é", MaxQuery/2+1) + `"}`,
		`{"query":"` + strings.Repeat("a", MaxQuery) + `"}`, ` { "query" : "spaced" } `, `{"":"x"}`,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{`"query"`, `"Query"`, `"extra"`, `""`, `"quer\u0079"`}
	values := []string{`"x"`, `"a\u0301b"`, `""`, `null`, `1`, `1.5`, `true`, `[]`, `{}`, `"` + "\xc3" + `"`, `"\u0000"`}
	for range 300 {
		var members []string
		for range rng.IntN(4) {
			members = append(members, keys[rng.IntN(len(keys))]+":"+values[rng.IntN(len(values))])
		}
		args = append(args, "{"+strings.Join(members, ",")+"}")
	}

	call := func(cs *mcp.ClientSession, arg string) string {
		p := &mcp.CallToolParams{Name: ReverseToolName}
		if arg != "" {
			p.Arguments = json.RawMessage(arg)
		}
		res, err := cs.CallTool(ctx, p)
		if err != nil {
			return "error: " + err.Error()
		}
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	fast := 0
	for _, arg := range args {
		want, got := sortedExtras(call(sdk, arg)), sortedExtras(call(ours, arg))
		if want != got {
			t.Errorf("arguments %.100q: SDK answered %.300s, ours %.300s", arg, want, got)
		}
		if _, ok := fastReverseInput(json.RawMessage(arg)); ok {
			fast++
		}
	}
	if fast < 10 || fast == len(args) {
		t.Errorf("the fast path took %d of %d argument sets: the cases do not cover both paths", fast, len(args))
	}
	t.Logf("%d argument sets, %d on the fast path", len(args), fast)
}

// extras matches the list of unexpected properties in a validation error, which the schema
// library writes in map order: random, from one call to the next, in the SDK too.
var extras = regexp.MustCompile(`unexpected additional properties \[([^\]]*)\]`)

// sortedExtras sorts the unexpected properties listed in s.
func sortedExtras(s string) string {
	return extras.ReplaceAllStringFunc(s, func(m string) string {
		list := extras.FindStringSubmatch(m)[1]
		items := strings.Split(list, " ")
		slices.Sort(items)
		return strings.Replace(m, list, strings.Join(items, " "), 1)
	})
}
