package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The client half of the comparison: how long `fastmcp-auth tools`, the TypeScript SDK
// client and `--help` take, timed by hyperfine or by our own loop.

// clientResult is the timing of one client command, in milliseconds.
type clientResult struct {
	Name     string  `json:"name"`
	Command  string  `json:"command"`
	MedianMs float64 `json:"median_ms"`
	MeanMs   float64 `json:"mean_ms"`
	MinMs    float64 `json:"min_ms"`
	MaxMs    float64 `json:"max_ms"`
	Runs     int     `json:"runs"`
	Tool     string  `json:"timed_by"`
}

// clientReport is the client part: timings and binary sizes.
type clientReport struct {
	Timings       []clientResult `json:"timings"`
	Size          int64          `json:"binary_bytes"`
	SizeStripped  int64          `json:"binary_stripped_bytes,omitempty"`
	NodeVersion   string         `json:"node_version"`
	HyperfineUsed bool           `json:"hyperfine"`
}

func (s *state) clientTimings(ctx context.Context) (*clientReport, error) {
	srv, url, err := s.startServer(ctx, "client-serve", "auth")
	if err != nil {
		return nil, err
	}
	defer stop(srv)
	tokEnv := env("FASTMCP_AUTH_TOKEN=" + s.token)
	cacheEnv := env(s.auth.env()...)
	nodeEnv := env("FASTMCP_AUTH_TOKEN=" + s.token)
	type job struct {
		name string
		env  []string
		args []string
	}
	jobs := []job{
		{"fastmcp-auth tools (token in FASTMCP_AUTH_TOKEN)", tokEnv, []string{s.cfg.fma, "tools", "--server", url}},
		{"fastmcp-auth tools (login cache)", cacheEnv, []string{s.cfg.fma, "tools", "--server", url, "--cache-file", s.cacheFile()}},
		{"node ts-tools.mjs (TS SDK client)", nodeEnv, []string{"node", filepath.Join(s.cfg.benchDir, "ts-tools.mjs"), url}},
		{"fastmcp-auth --help", env(), []string{s.cfg.fma, "--help"}},
	}
	rep := &clientReport{}
	hf, _ := exec.LookPath("hyperfine")
	rep.HyperfineUsed = hf != ""
	for _, j := range jobs {
		// Check once that the command works: a failing command is fast, not a result.
		cmd := exec.CommandContext(ctx, j.args[0], j.args[1:]...)
		cmd.Dir, cmd.Env = s.dir, j.env
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("%s: %w: %s", j.name, err, lastLine(out))
		}
		fmt.Fprintf(os.Stderr, "timing: %s\n", j.name)
		var r clientResult
		if hf != "" {
			r, err = s.hyperfine(ctx, hf, j.env, j.args)
		} else {
			r, err = s.loop(ctx, j.env, j.args)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", j.name, err)
		}
		r.Name, r.Command = j.name, strings.Join(j.args, " ")
		rep.Timings = append(rep.Timings, r)
	}
	if fi, err := os.Stat(s.cfg.fma); err == nil {
		rep.Size = fi.Size()
	}
	if s.cfg.fmaStripped != "" {
		if fi, err := os.Stat(s.cfg.fmaStripped); err == nil {
			rep.SizeStripped = fi.Size()
		}
	}
	if out, err := exec.Command("node", "--version").Output(); err == nil {
		rep.NodeVersion = strings.TrimSpace(string(out))
	}
	return rep, nil
}

// hyperfine times args with hyperfine (no intermediate shell, output discarded).
func (s *state) hyperfine(ctx context.Context, hf string, environ, args []string) (clientResult, error) {
	jsonFile := filepath.Join(s.dir, "hyperfine.json")
	cmd := exec.CommandContext(ctx, hf, "--shell=none", "--warmup", "3", "--runs", strconv.Itoa(s.cfg.clientRuns),
		"--style", "none", "--export-json", jsonFile, strings.Join(args, " "))
	cmd.Dir, cmd.Env = s.dir, environ
	if out, err := cmd.CombinedOutput(); err != nil {
		return clientResult{}, fmt.Errorf("hyperfine: %w: %s", err, lastLine(out))
	}
	var doc struct {
		Results []struct {
			Mean, Median, Min, Max float64
			Times                  []float64
		}
	}
	if err := json.Unmarshal(readFile(jsonFile), &doc); err != nil || len(doc.Results) != 1 {
		return clientResult{}, fmt.Errorf("hyperfine output: %v", err)
	}
	h := doc.Results[0]
	return clientResult{MedianMs: h.Median * 1000, MeanMs: h.Mean * 1000, MinMs: h.Min * 1000, MaxMs: h.Max * 1000,
		Runs: len(h.Times), Tool: "hyperfine"}, nil
}

// loop times args itself when hyperfine is missing: 3 warm-up runs, then clientRuns runs.
func (s *state) loop(ctx context.Context, environ, args []string) (clientResult, error) {
	var times []float64
	for i := range s.cfg.clientRuns + 3 {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Dir, cmd.Env = s.dir, environ
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return clientResult{}, err
		}
		if i >= 3 {
			times = append(times, float64(time.Since(t0).Microseconds())/1000)
		}
	}
	slices.Sort(times)
	var sum float64
	for _, t := range times {
		sum += t
	}
	return clientResult{MedianMs: median(times), MeanMs: sum / float64(len(times)), MinMs: times[0],
		MaxMs: times[len(times)-1], Runs: len(times), Tool: "Go loop"}, nil
}
