// Command loadgen drives an MCP server over Streamable HTTP with N concurrent sessions, each
// calling reverse_tool (with a progress token) in a loop, either as fast as possible or at a
// fixed total rate, and reports throughput, latency percentiles, errors and, given the
// server's process ID, its CPU time per call and peak RSS read from /proc.
//
//	go run ./bench/loadgen --url http://127.0.0.1:8000/mcp --sessions 50 --duration 20s --pid 1234
//
// The bearer token comes from the environment variable FASTMCP_AUTH_TOKEN (never a flag, so it
// stays out of the process list). Output is one JSON object on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/fastmcp-auth/fastmcp-auth/internal/httpx"
)

// Report is what one run measured.
type Report struct {
	URL          string  `json:"url"`
	Sessions     int     `json:"sessions"`
	Rate         float64 `json:"target_rate,omitempty"`
	Calls        int64   `json:"calls"`
	Errors       int64   `json:"errors"`
	FirstError   string  `json:"first_error,omitempty"`
	Seconds      float64 `json:"seconds"`
	Throughput   float64 `json:"calls_per_second"`
	P50ms        float64 `json:"p50_ms"`
	P90ms        float64 `json:"p90_ms"`
	P99ms        float64 `json:"p99_ms"`
	ProgressSeen int64   `json:"progress_notifications"`
	ServerCPUus  float64 `json:"server_cpu_us_per_call,omitempty"`
	ServerRSSMiB float64 `json:"server_peak_rss_mib,omitempty"`
	// OtherCores is the CPU, in cores, that processes other than the server and this load
	// generator used while measuring (from /proc/stat). On a shared machine it says how far
	// other work may have disturbed the figures.
	OtherCores float64 `json:"other_cpu_cores"`
}

func main() {
	url := flag.String("url", "http://127.0.0.1:8000/mcp", "MCP endpoint")
	sessions := flag.Int("sessions", 50, "concurrent MCP sessions")
	duration := flag.Duration("duration", 10*time.Second, "how long to run")
	warmup := flag.Duration("warmup", 2*time.Second, "calls made before measuring starts")
	rate := flag.Float64("rate", 0, "fixed total calls per second (0: as fast as possible)")
	pid := flag.Int("pid", 0, "server process ID, to read its CPU time and peak RSS")
	query := flag.String("query", "hello, load", "reverse_tool query")
	tool := flag.String("tool", "reverse_tool", "tool to call (the gateway benchmark calls server-everything's echo)")
	argsJSON := flag.String("args", "", `the tool's arguments as a JSON object (default {"query": <--query>})`)
	flag.Parse()
	args := map[string]any{"query": *query}
	if *argsJSON != "" {
		if err := json.Unmarshal([]byte(*argsJSON), &args); err != nil {
			fmt.Fprintln(os.Stderr, "error: --args:", err)
			os.Exit(2)
		}
	}
	rep, err := run(*url, *sessions, *duration, *warmup, *rate, *pid, *tool, args, os.Getenv("FASTMCP_AUTH_TOKEN"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(url string, n int, duration, warmup time.Duration, rate float64, pid int, tool string, args map[string]any, token string) (*Report, error) {
	ctx := context.Background()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = n * 2
	var rt http.RoundTripper = tr
	if token != "" {
		rt = &httpx.BearerTransport{Token: token, Base: tr}
	}
	var progress atomic.Int64
	client := mcp.NewClient(&mcp.Implementation{Name: "loadgen", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { progress.Add(1) },
	})
	css := make([]*mcp.ClientSession, n)
	for i := range css {
		cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: rt}, MaxRetries: -1, DisableStandaloneSSE: true},
			&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			return nil, fmt.Errorf("session %d: %w", i, err)
		}
		defer cs.Close()
		css[i] = cs
	}
	// pacing: with a fixed rate, a shared ticker hands out call permits.
	var permits chan struct{}
	stopPace := make(chan struct{})
	if rate > 0 {
		permits = make(chan struct{}, n)
		go func() {
			interval := time.Duration(float64(time.Second) / rate)
			next := time.Now()
			for {
				select {
				case <-stopPace:
					return
				default:
				}
				next = next.Add(interval)
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				select {
				case permits <- struct{}{}:
				default: // clients saturated: the call is dropped from the schedule
				}
			}
		}()
	}
	var (
		mu        sync.Mutex
		lat       []time.Duration
		calls     atomic.Int64
		errs      atomic.Int64
		firstErr  atomic.Value
		measuring atomic.Bool
		wg        sync.WaitGroup
	)
	deadline := time.Now().Add(warmup + duration)
	var cpu0, self0, busy0 float64
	var t0 time.Time
	go func() {
		time.Sleep(warmup)
		cpu0, self0, busy0 = procCPU(pid), procCPU(os.Getpid()), machineBusy()
		t0 = time.Now()
		progress.Store(0)
		measuring.Store(true)
	}()
	for i, cs := range css {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1024)
			for k := 0; time.Now().Before(deadline); k++ {
				if permits != nil {
					select {
					case <-permits:
					case <-time.After(time.Until(deadline)):
						continue
					}
				}
				params := &mcp.CallToolParams{Name: tool, Arguments: args,
					Meta: mcp.Meta{"progressToken": "s" + strconv.Itoa(i) + "-" + strconv.Itoa(k)}}
				start := time.Now()
				res, err := cs.CallTool(ctx, params)
				d := time.Since(start)
				if !measuring.Load() {
					continue
				}
				if err == nil && res.IsError {
					err = errors.New("tool error")
				}
				if err != nil {
					if errs.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
					continue
				}
				calls.Add(1)
				local = append(local, d)
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stopPace)
	secs := time.Since(t0).Seconds()
	cpu1, self1, busy1 := procCPU(pid), procCPU(os.Getpid()), machineBusy()
	slices.Sort(lat)
	rep := &Report{URL: url, Sessions: n, Rate: rate, Calls: calls.Load(), Errors: errs.Load(), Seconds: secs,
		Throughput: float64(calls.Load()) / secs, ProgressSeen: progress.Load(),
		P50ms: pct(lat, 0.50), P90ms: pct(lat, 0.90), P99ms: pct(lat, 0.99)}
	if busy1 > 0 {
		rep.OtherCores = max(0, (busy1-busy0)-(cpu1-cpu0)-(self1-self0)) / secs
	}
	if v, ok := firstErr.Load().(string); ok {
		rep.FirstError = v
	}
	if pid > 0 && rep.Calls > 0 {
		rep.ServerCPUus = (cpu1 - cpu0) * 1e6 / float64(rep.Calls)
		rep.ServerRSSMiB = peakRSS(pid)
	}
	return rep, nil
}

func pct(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return float64(sorted[i].Microseconds()) / 1000
}

// procCPU is the user+system CPU seconds of process pid (Linux /proc).
func procCPU(pid int) float64 {
	if pid <= 0 || runtime.GOOS != "linux" {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// machineBusy is the CPU seconds all cores spent busy since boot (Linux /proc/stat: every
// state but idle and iowait).
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i != 3 && i != 4 && i < 8 { // idle, iowait; guest times are already in user
			busy += n
		}
	}
	return busy / 100 // USER_HZ
}

// peakRSS is VmHWM of process pid in MiB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}
