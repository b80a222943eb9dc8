// Command compare reproduces the figures of docs/performance.md in one run: it starts a
// development authority, signs in through the CLI's device flow (auto-approved), then
//
//   - load: for each round, runs bench/loadgen against a fresh process of each target in
//     turn (`serve --no-auth`, `serve` with auth, the TypeScript SDK peer), 50 sessions calling
//     reverse_tool, as fast as possible and at fixed rates, and prints the medians and the
//     same-round ratios against the targets of issue 2;
//   - client: times `fastmcp-auth tools` (token from the environment, and from the login cache),
//     the same listing by bench/ts-tools.mjs on the TypeScript SDK client, and
//     `fastmcp-auth --help` (hyperfine when installed, else its own loop), and reports the
//     binary sizes, against the targets of issue 4.
//
// It is a measurement, not a test: bench/run.sh builds the binaries and calls it. The token
// stays in memory and in the children's environment; it is never printed or written to disk
// outside the temporary login cache (0600, removed on exit).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is what the flags set.
type config struct {
	fma, fmaStripped, loadgen, benchDir string
	parts                               string
	duration, warmup                    time.Duration
	rounds, sessions                    int
	rate, lowRate                       float64
	pin                                 bool
	clientRuns                          int
	jsonOut                             string
}

func main() {
	var c config
	flag.StringVar(&c.fma, "fma", "", "fastmcp-auth binary (required)")
	flag.StringVar(&c.fmaStripped, "fma-stripped", "", "the same binary built with -ldflags \"-s -w\" (size only)")
	flag.StringVar(&c.loadgen, "loadgen", "", "bench/loadgen binary (required for the load part)")
	flag.StringVar(&c.benchDir, "bench-dir", "bench", "directory of peer-server.mjs, ts-tools.mjs and node_modules")
	flag.StringVar(&c.parts, "parts", "load,client", "what to measure: load, client, or both")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "measured time per load target")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured calls before each load measurement")
	flag.IntVar(&c.rounds, "rounds", 1, "load rounds; the report gives the median of each figure and ratio")
	flag.IntVar(&c.sessions, "sessions", 50, "concurrent MCP sessions")
	flag.Float64Var(&c.rate, "rate", 1000, "fixed calls/s of the peer comparison")
	flag.Float64Var(&c.lowRate, "low-rate", 150, "a second fixed rate the peer can sustain (0: skip)")
	flag.BoolVar(&c.pin, "pin", true, "pin the server to CPU 0 and the load generator to CPU 1 (taskset)")
	flag.IntVar(&c.clientRuns, "client-runs", 30, "timed runs per client command")
	flag.StringVar(&c.jsonOut, "json-out", "", "also write every raw measurement to this JSON file")
	flag.Parse()
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// env is the environment of the children: the caller's, minus any FASTMCP_AUTH_* setting (a
// user's own configuration must not leak into the measurement), plus extra.
func env(extra ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FASTMCP_AUTH_") && !strings.HasPrefix(kv, "NODE_EXTRA_CA_CERTS=") {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

// authority is a running development authority.
type authority struct {
	url, caFile, apiClientID, clientID string
}

func (a authority) issuer() string { return a.url + "/v2.0" }
func (a authority) jwks() string   { return a.url + "/discovery/v2.0/keys" }
func (a authority) env() []string {
	return []string{"FASTMCP_AUTH_AUTHORITY=" + a.url, "FASTMCP_AUTH_CA_FILE=" + a.caFile,
		"FASTMCP_AUTH_API_CLIENT_ID=" + a.apiClientID, "FASTMCP_AUTH_CLIENT_ID=" + a.clientID}
}

// state holds what the whole run shares.
type state struct {
	cfg   config
	dir   string // temporary: authority state, login cache, logs; also the children's cwd, so no .env is read
	auth  authority
	token string
	procs []*exec.Cmd
}

func run(ctx context.Context, c config) error {
	if c.fma == "" {
		return errors.New("--fma is required")
	}
	dir, err := os.MkdirTemp("", "fastmcp-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s := &state{cfg: c, dir: dir}
	defer s.stopAll()
	if s.cfg.benchDir, err = filepath.Abs(c.benchDir); err != nil {
		return err
	}
	if err := s.startAuthority(ctx); err != nil {
		return err
	}
	if err := s.login(ctx); err != nil {
		return err
	}
	raw := map[string]any{}
	fmt.Printf("%s, %d cores, %s, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), cpuModel(), runtime.Version())
	if strings.Contains(c.parts, "load") {
		rounds, err := s.loadRounds(ctx)
		if err != nil {
			return err
		}
		raw["load"] = rounds
		printLoad(os.Stdout, c, rounds)
	}
	if strings.Contains(c.parts, "client") {
		res, err := s.clientTimings(ctx)
		if err != nil {
			return err
		}
		raw["client"] = res
		printClient(os.Stdout, c, res)
	}
	if c.jsonOut != "" {
		b, _ := json.MarshalIndent(raw, "", "  ")
		if err := os.WriteFile(c.jsonOut, b, 0o644); err != nil { //nolint:gosec // G306: a benchmark report, meant to be shared
			return err
		}
	}
	return nil
}

// start runs a long-lived child (stderr to a log file in the state dir) and remembers it.
func (s *state) start(name string, cpu string, extraEnv []string, args ...string) (*exec.Cmd, io.Reader, error) {
	if s.cfg.pin && cpu != "" {
		args = append([]string{"taskset", "-c", cpu}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = s.dir
	cmd.Env = env(extraEnv...)
	logf, err := os.Create(filepath.Join(s.dir, name+".log"))
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("could not start %s: %w", name, err)
	}
	s.procs = append(s.procs, cmd)
	return cmd, out, nil
}

// stop ends a child with SIGTERM (SIGKILL after 10 s) and waits for it.
func stop(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (s *state) stopAll() {
	for _, p := range slices.Backward(s.procs) {
		stop(p)
	}
}

func (s *state) startAuthority(_ context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	_, out, err := s.start("authority", "", nil, s.cfg.fma, "dev-authority", "--addr", "127.0.0.1:"+port,
		"--state-dir", filepath.Join(s.dir, "authority"), "--auto-approve", "--token-lifetime", "4h")
	if err != nil {
		return err
	}
	got := map[string]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			got[k] = v
		}
		if got["FASTMCP_AUTH_AUTHORITY"] != "" && got["FASTMCP_AUTH_CA_FILE"] != "" && got["FASTMCP_AUTH_API_CLIENT_ID"] != "" {
			break
		}
	}
	if got["FASTMCP_AUTH_AUTHORITY"] == "" {
		return fmt.Errorf("dev-authority printed no settings; see its log")
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	s.auth = authority{url: got["FASTMCP_AUTH_AUTHORITY"], caFile: got["FASTMCP_AUTH_CA_FILE"],
		apiClientID: got["FASTMCP_AUTH_API_CLIENT_ID"], clientID: got["FASTMCP_AUTH_CLIENT_ID"]}
	if s.auth.clientID == "" {
		s.auth.clientID = "fastmcp-bench"
	}
	return nil
}

func (s *state) cacheFile() string { return filepath.Join(s.dir, "cache", "token_cache.json") }

// login signs in with the device flow (approved at once by --auto-approve) into a temporary
// cache, then reads the access token with `fastmcp-auth token`: the real client path.
func (s *state) login(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.cfg.fma, "login", "--cache-file", s.cacheFile())
	cmd.Dir, cmd.Env = s.dir, env(s.auth.env()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("login: %w: %s", err, lastLine(out))
	}
	cmd = exec.CommandContext(ctx, s.cfg.fma, "token", "--cache-file", s.cacheFile())
	cmd.Dir, cmd.Env = s.dir, env(s.auth.env()...)
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	s.token = strings.TrimSpace(string(out))
	return nil
}

// target is one server configuration under load.
type target struct {
	name string
	kind string  // "noauth", "auth" or "peer"
	rate float64 // 0: as fast as possible
}

// loadResult is loadgen's report (the fields used here).
type loadResult struct {
	Target       string  `json:"target"`
	Rate         float64 `json:"target_rate"`
	Calls        int64   `json:"calls"`
	Errors       int64   `json:"errors"`
	FirstError   string  `json:"first_error"`
	Throughput   float64 `json:"calls_per_second"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	ServerCPUus  float64 `json:"server_cpu_us_per_call"`
	ServerRSSMiB float64 `json:"server_peak_rss_mib"`
	OtherCores   float64 `json:"other_cpu_cores"`
}

func (s *state) targets() []target {
	ts := []target{
		{"serve --no-auth, max rate", "noauth", 0},
		{"serve (auth), max rate", "auth", 0},
		{fmt.Sprintf("serve (auth), %g/s", s.cfg.rate), "auth", s.cfg.rate},
		{fmt.Sprintf("TS SDK peer (auth), %g/s", s.cfg.rate), "peer", s.cfg.rate},
		// At equal load, the auth cost is not mixed with the batching gains of a higher
		// throughput (CPU per call falls as the rate rises).
		{fmt.Sprintf("serve --no-auth, %g/s", s.cfg.rate), "noauth", s.cfg.rate},
	}
	if s.cfg.lowRate > 0 {
		ts = append(ts,
			target{fmt.Sprintf("serve (auth), %g/s", s.cfg.lowRate), "auth", s.cfg.lowRate},
			target{fmt.Sprintf("TS SDK peer (auth), %g/s", s.cfg.lowRate), "peer", s.cfg.lowRate})
	}
	return ts
}

// loadRounds measures every target, each against a fresh server process (so its peak RSS
// is that run's), one after the other: on a small machine, running them together would
// measure the contention between them.
func (s *state) loadRounds(ctx context.Context) ([][]loadResult, error) {
	var rounds [][]loadResult
	for r := range s.cfg.rounds {
		var round []loadResult
		for i, t := range s.targets() {
			fmt.Fprintf(os.Stderr, "round %d/%d: %s\n", r+1, s.cfg.rounds, t.name)
			res, err := s.loadOne(ctx, fmt.Sprintf("r%d-t%d", r, i), t)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.name, err)
			}
			round = append(round, res)
		}
		rounds = append(rounds, round)
	}
	return rounds, nil
}

func (s *state) startServer(ctx context.Context, name, kind string) (*exec.Cmd, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + port
	var cmd *exec.Cmd
	switch kind {
	case "noauth":
		cmd, _, err = s.start(name, "0", nil, s.cfg.fma, "serve", "--no-auth", "--addr", addr, "--progress-interval", "0")
	case "auth":
		cmd, _, err = s.start(name, "0", s.auth.env(), s.cfg.fma, "serve", "--addr", addr, "--progress-interval", "0")
	case "peer":
		cmd, _, err = s.start(name, "0", []string{"NODE_EXTRA_CA_CERTS=" + s.auth.caFile}, "node",
			filepath.Join(s.cfg.benchDir, "peer-server.mjs"), "--port", port, "--jwks", s.auth.jwks(),
			"--issuer", s.auth.issuer(), "--audience", s.auth.apiClientID)
	}
	if err != nil {
		return nil, "", err
	}
	if err := waitListening(ctx, addr, 20*time.Second); err != nil {
		stop(cmd)
		return nil, "", fmt.Errorf("%w (log: %s)", err, lastLine(readFile(filepath.Join(s.dir, name+".log"))))
	}
	return cmd, "http://" + addr + "/mcp", nil
}

func (s *state) loadOne(ctx context.Context, name string, t target) (loadResult, error) {
	srv, url, err := s.startServer(ctx, name, t.kind)
	if err != nil {
		return loadResult{}, err
	}
	defer stop(srv)
	args := []string{s.cfg.loadgen, "--url", url, "--sessions", strconv.Itoa(s.cfg.sessions),
		"--duration", s.cfg.duration.String(), "--warmup", s.cfg.warmup.String(),
		"--rate", strconv.FormatFloat(t.rate, 'f', -1, 64), "--pid", strconv.Itoa(srv.Process.Pid)}
	if s.cfg.pin {
		args = append([]string{"taskset", "-c", "1"}, args...)
	}
	var extra []string
	if t.kind != "noauth" {
		extra = []string{"FASTMCP_AUTH_TOKEN=" + s.token}
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir, cmd.Env = s.dir, env(extra...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return loadResult{}, fmt.Errorf("loadgen: %w: %s", err, lastLine(stderr.Bytes()))
	}
	var res loadResult
	if err := json.Unmarshal(out, &res); err != nil {
		return loadResult{}, fmt.Errorf("loadgen output: %w", err)
	}
	res.Target = t.name
	return res, nil
}

// waitListening polls until addr accepts connections (and, for our server, /healthz is up).
func waitListening(ctx context.Context, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			// The peer has no /healthz; any HTTP answer means it is up.
			if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
				resp.Body.Close()
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("nothing listening on %s after %s", addr, limit)
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, nil
}

func cpuModel() string {
	for _, line := range strings.Split(string(readFile("/proc/cpuinfo")), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func readFile(name string) []byte {
	b, _ := os.ReadFile(name)
	return b
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// median of a sorted or unsorted slice (not modified).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
