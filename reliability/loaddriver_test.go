package reliability

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/internal/httpx"
	"github.com/fastmcp-auth/fastmcp-auth/mcpserver"
)

// loadResult is what one load run measured.
type loadResult struct {
	Sessions   int     `json:"sessions"`
	Seconds    float64 `json:"seconds"`
	Calls      int64   `json:"calls"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Throughput float64 `json:"calls_per_second"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	// Progress is the number of progress notifications received; every call must bring
	// mcpserver.ProgressSteps of them (LostProgress counts the calls that did not).
	Progress     int64 `json:"progress_notifications"`
	LostProgress int64 `json:"calls_missing_progress"`
}

// loadConfig says how to drive the server.
type loadConfig struct {
	url      string
	token    string
	sessions int
	duration time.Duration
	query    string
	// stop, when not nil, ends the load early: calls in flight finish, none start.
	stop <-chan struct{}
}

// runLoad opens cfg.sessions MCP sessions (go-sdk client over Streamable HTTP, as the
// loadgen does) and has each call reverse_tool with a progress token in a loop for
// cfg.duration, checking every result and counting the progress notifications of each call.
// Sessions are closed (HTTP DELETE) and idle connections dropped before it returns, so that
// a leak check afterwards sees only what the server kept.
func runLoad(ctx context.Context, cfg loadConfig) (*loadResult, error) {
	if cfg.query == "" {
		cfg.query = "héllo, 👩‍👩‍👧 load"
	}
	want := mcpserver.Reverse(cfg.query)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = cfg.sessions * 2
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: &httpx.BearerTransport{Token: cfg.token, Base: tr}}

	var (
		pmu      sync.Mutex
		progress = map[string]int{}
		total    atomic.Int64
	)
	client := mcp.NewClient(&mcp.Implementation{Name: "reliability", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			total.Add(1)
			if tok, ok := req.Params.ProgressToken.(string); ok {
				pmu.Lock()
				progress[tok]++
				pmu.Unlock()
			}
		},
	})
	sessions := make([]*mcp.ClientSession, 0, cfg.sessions)
	defer func() {
		for _, s := range sessions {
			_ = s.Close()
		}
	}()
	for i := 0; i < cfg.sessions; i++ {
		s, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: cfg.url, HTTPClient: hc, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
		if err != nil {
			return nil, fmt.Errorf("session %d: %w", i, err)
		}
		sessions = append(sessions, s)
	}

	var (
		mu       sync.Mutex
		lat      []time.Duration
		calls    atomic.Int64
		errs     atomic.Int64
		lost     atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		if errs.Add(1) == 1 {
			firstErr.Store(err.Error())
		}
	}
	start := time.Now()
	deadline := start.Add(cfg.duration)
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 256)
			for k := 0; time.Now().Before(deadline) && ctx.Err() == nil && !stopped(cfg.stop); k++ {
				tok := "s" + strconv.Itoa(i) + "-" + strconv.Itoa(k)
				t0 := time.Now()
				res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: "reverse_tool",
					Arguments: map[string]any{"query": cfg.query}, Meta: mcp.Meta{"progressToken": tok}})
				d := time.Since(t0)
				switch {
				case err != nil:
					fail(err)
					continue
				case res.IsError:
					fail(errors.New("tool error"))
					continue
				}
				got, _ := res.StructuredContent.(map[string]any)
				if got["reversed_query"] != want {
					fail(fmt.Errorf("wrong result %v", res.StructuredContent))
					continue
				}
				calls.Add(1)
				local = append(local, d)
				// Progress rides the call's own event stream ahead of the result; the SDK
				// may dispatch the last one just after the result, so allow a moment.
				for w := 0; ; w++ {
					pmu.Lock()
					n := progress[tok]
					delete(progress, tok)
					pmu.Unlock()
					if n >= 5 {
						break
					}
					if w == 200 {
						lost.Add(1)
						break
					}
					time.Sleep(time.Millisecond)
					pmu.Lock()
					progress[tok] += n
					pmu.Unlock()
				}
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	slices.Sort(lat)
	r := &loadResult{Sessions: cfg.sessions, Seconds: round(secs), Calls: calls.Load(), Errors: errs.Load(),
		Throughput: round(float64(calls.Load()) / secs), P50ms: pct(lat, 0.50), P99ms: pct(lat, 0.99),
		Progress: total.Load(), LostProgress: lost.Load()}
	if v, ok := firstErr.Load().(string); ok {
		r.FirstError = v
	}
	return r, nil
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return round(float64(sorted[int(float64(len(sorted)-1)*p)].Microseconds()) / 1000)
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }

// stopped reports whether stop is closed.
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}
