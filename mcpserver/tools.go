package mcpserver

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rivo/uniseg"

	"github.com/fastmcp-auth/fastmcp-auth/auth"
)

// Tool names, as clients call them.
const (
	ReverseToolName = "reverse_tool"
	RandomToolName  = "random_number_tool"
)

// ReverseInput is the input of reverse_tool.
type ReverseInput struct {
	Query string `json:"query" jsonschema:"the text to reverse (at most 64 KiB)"`
}

// ReverseOutput is the structured output of reverse_tool.
type ReverseOutput struct {
	ReversedQuery string `json:"reversed_query" jsonschema:"the text reversed by user-perceived characters"`
}

// RandomInput is the input of random_number_tool.
type RandomInput struct {
	Min int64 `json:"min" jsonschema:"the smallest number that may be drawn"`
	Max int64 `json:"max" jsonschema:"the largest number that may be drawn; not below min"`
}

// RandomOutput is the structured output of random_number_tool.
type RandomOutput struct {
	RandomNumber int64 `json:"random_number" jsonschema:"an integer drawn uniformly from min to max, both included"`
}

// tools holds the settings the tool handlers need.
type tools struct {
	interval     time.Duration
	logger       *slog.Logger
	onReverseEnd func(error)
}

// reverseToolDef is reverse_tool as clients list it; the schemas are inferred from
// ReverseInput and ReverseOutput when it is registered.
func reverseToolDef() *mcp.Tool {
	return &mcp.Tool{
		Name: ReverseToolName,
		Description: "Reverse a text by user-perceived characters (combining marks, flags and emoji sequences stay whole). " +
			"Reports five progress steps and stops when cancelled.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: new(false)},
	}
}

func (t *tools) register(s *mcp.Server) {
	// reverse_tool, the tool every benchmark calls, goes through the raw AddTool with its
	// schemas resolved here, once (see typedTool); random_number_tool keeps the SDK's typed
	// AddTool.
	reverse := mustTypedTool(reverseToolDef(), t.reverse, fastReverseInput)
	s.AddTool(reverse.tool, reverse.handle)
	mcp.AddTool(s, &mcp.Tool{
		Name:        RandomToolName,
		Description: "Draw a random integer between min and max, both included.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: new(false)},
		InputSchema: randomInputSchema(),
	}, t.random)
}

// MaxSafeInteger is the largest integer a JSON number carries exactly everywhere: 2^53-1,
// JavaScript's Number.MAX_SAFE_INTEGER (RFC 8259 section 6 names this range as the
// interoperable one).
const MaxSafeInteger = 1<<53 - 1

// randomInputSchema is RandomInput's schema with min and max bounded to the safe integers.
// The go-sdk decodes arguments into float64 before the typed input, so a larger integer
// would arrive rounded (2^53+1 as 2^53: a draw outside [min, max]) and the most negative
// int64 would fail with a Go type name in the message; the bounds make both a schema error
// that names the limit. It also keeps the result exact for JavaScript clients.
func randomInputSchema() *jsonschema.Schema {
	s, err := jsonschema.For[RandomInput](nil)
	if err != nil {
		panic(fmt.Sprintf("mcpserver: random_number_tool schema: %v", err)) // a programming error, found by every test
	}
	lo, hi := float64(-MaxSafeInteger), float64(MaxSafeInteger)
	for _, name := range []string{"min", "max"} {
		s.Properties[name].Minimum, s.Properties[name].Maximum = &lo, &hi
	}
	return s
}

// reverse is the reverse_tool handler: five progress steps, one per interval (wait, then
// notify), then the reversed query.
func (t *tools) reverse(ctx context.Context, req *mcp.CallToolRequest, in ReverseInput) (_ *mcp.CallToolResult, _ ReverseOutput, err error) {
	if t.onReverseEnd != nil {
		defer func() { t.onReverseEnd(err) }()
	}
	if len(in.Query) > MaxQuery {
		return nil, ReverseOutput{}, fmt.Errorf("query is %d bytes, over the %d-byte (64 KiB) limit: send a shorter text", len(in.Query), MaxQuery)
	}
	subject := ""
	if id := identityFromRequest(req); id != nil {
		subject = id.User()
	}
	var token any
	if req.Params != nil {
		token = req.Params.GetProgressToken()
	}
	for step := 1; step <= ProgressSteps; step++ {
		if err := sleep(ctx, t.interval); err != nil {
			t.logger.Info("reverse_tool cancelled", "step", step, "subject", subject)
			return nil, ReverseOutput{}, err
		}
		if token == nil || req.Session == nil {
			continue
		}
		// The handler's ctx carries the request ID, which routes the notification onto this
		// call's own response stream (a detached ctx would send it to the GET stream, or
		// nowhere in stateless mode).
		perr := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
			ProgressToken: token,
			Progress:      float64(step),
			Total:         ProgressSteps,
			Message:       progressMessages[step-1],
		})
		if perr != nil {
			// An undeliverable notification must not fail the call.
			t.logger.Debug("could not send progress", "step", step, "err", perr)
		}
	}
	return nil, ReverseOutput{ReversedQuery: Reverse(in.Query)}, nil
}

// progressMessages are the messages of the progress steps, formatted once.
var progressMessages = func() (m [ProgressSteps]string) {
	for i := range m {
		m[i] = fmt.Sprintf("reversing: step %d of %d", i+1, ProgressSteps)
	}
	return m
}()

// sleep waits d, or returns ctx's error if it ends first. With d <= 0 it only checks ctx.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return ctx.Err()
	}
}

// random is the random_number_tool handler.
func (t *tools) random(_ context.Context, _ *mcp.CallToolRequest, in RandomInput) (*mcp.CallToolResult, RandomOutput, error) {
	if in.Min > in.Max {
		return nil, RandomOutput{}, fmt.Errorf("min (%d) is greater than max (%d): swap them", in.Min, in.Max)
	}
	return nil, RandomOutput{RandomNumber: randomBetween(in.Min, in.Max)}, nil
}

// randomBetween draws uniformly from [lo, hi] without overflowing on the widest range.
// math/rand is enough: the tool is a demo, not a source of secrets.
func randomBetween(lo, hi int64) int64 {
	span := uint64(hi) - uint64(lo) //nolint:gosec // G115: the wrap-around is wanted: correct for any lo <= hi
	if span == math.MaxUint64 {
		return int64(rand.Uint64()) //nolint:gosec // full int64 range, not a secret
	}
	return lo + int64(rand.Uint64N(span+1)) //nolint:gosec // not a secret
}

// Reverse reverses s by grapheme clusters (Unicode UAX #29), so that "e\u0301", flags,
// skin-tone modifiers and ZWJ emoji sequences come out whole.
func Reverse(s string) string {
	var clusters []string
	g := uniseg.NewGraphemes(s)
	for g.Next() {
		clusters = append(clusters, g.Str())
	}
	slices.Reverse(clusters)
	out := make([]byte, 0, len(s))
	for _, c := range clusters {
		out = append(out, c...)
	}
	return string(out)
}

// identityFromRequest returns the verified caller of a tool call, or nil (no auth, or stdio
// where Extra is nil).
func identityFromRequest(req *mcp.CallToolRequest) *auth.Identity {
	if req == nil || req.Extra == nil || req.Extra.TokenInfo == nil {
		return nil
	}
	id, _ := req.Extra.TokenInfo.Extra[identityKey].(*auth.Identity)
	return id
}
