package main

import (
	"fmt"
	"io"
	"strings"
)

// printLoad writes the load tables: the median of each figure per target over the rounds,
// then each target of issue 2 as the median of the same-round ratios (the rounds' values in
// brackets), since on a shared machine a ratio within one round is steadier than the
// figures it is made of.
func printLoad(w io.Writer, c config, rounds [][]loadResult) {
	if len(rounds) == 0 {
		return
	}
	pin := "server pinned to CPU 0 and load generator to CPU 1 (taskset)"
	if !c.pin {
		pin = "no CPU pinning"
	}
	fmt.Fprintf(w, "### Load: %d sessions calling reverse_tool (progress interval 0), %s measured after %s warm-up, median of %d round(s); %s\n\n",
		c.sessions, c.duration, c.warmup, len(rounds), pin)
	fmt.Fprintln(w, "| target | calls/s | p50 ms | p99 ms | server CPU µs/call | server peak RSS MiB | errors | other processes' CPU, cores |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for i, t := range rounds[0] {
		col := func(f func(loadResult) float64) float64 {
			var xs []float64
			for _, r := range rounds {
				xs = append(xs, f(r[i]))
			}
			return median(xs)
		}
		var errs int64
		for _, r := range rounds {
			errs += r[i].Errors
		}
		fmt.Fprintf(w, "| %s | %.0f | %.2f | %.2f | %.0f | %.1f | %d | %.2f |\n", t.Target,
			col(func(r loadResult) float64 { return r.Throughput }),
			col(func(r loadResult) float64 { return r.P50ms }),
			col(func(r loadResult) float64 { return r.P99ms }),
			col(func(r loadResult) float64 { return r.ServerCPUus }),
			col(func(r loadResult) float64 { return r.ServerRSSMiB }), errs,
			col(func(r loadResult) float64 { return r.OtherCores }))
	}
	fmt.Fprintln(w)

	// Indexes follow state.targets.
	const noauthMax, authMax, authRate, peerRate, noauthRate, authLow, peerLow = 0, 1, 2, 3, 4, 5, 6
	type check struct {
		what    string
		a, b    int // ratio a/b; b < 0: the figure of a itself
		f       func(loadResult) float64
		limit   float64
		atMost  bool // met when value <= limit, else when value < limit
		unit    string
		decimal int
	}
	cpu := func(r loadResult) float64 { return r.ServerCPUus }
	rss := func(r loadResult) float64 { return r.ServerRSSMiB }
	p99 := func(r loadResult) float64 { return r.P99ms }
	thr := func(r loadResult) float64 { return r.Throughput }
	checks := []check{
		{"CPU per call, auth / no-auth (max rate)", authMax, noauthMax, cpu, 1.10, true, "x", 2},
		{fmt.Sprintf("CPU per call, auth / no-auth at %g/s", c.rate), authRate, noauthRate, cpu, 1.10, true, "x", 2},
		{"peak RSS, serve with auth (max rate)", authMax, -1, rss, 60, false, " MiB", 1},
		{fmt.Sprintf("peak RSS, serve with auth at %g/s", c.rate), authRate, -1, rss, 60, false, " MiB", 1},
		{fmt.Sprintf("p99, serve / peer at %g/s", c.rate), authRate, peerRate, p99, 0.1, true, "x", 3},
		{fmt.Sprintf("CPU per call, serve / peer at %g/s", c.rate), authRate, peerRate, cpu, 0.4, true, "x", 3},
		{fmt.Sprintf("peak RSS, serve / peer at %g/s", c.rate), authRate, peerRate, rss, 0.15, true, "x", 3},
		{fmt.Sprintf("calls/s reached by the peer at %g/s", c.rate), peerRate, -1, thr, c.rate * 0.98, false, "/s", 0},
	}
	if c.lowRate > 0 && len(rounds[0]) > peerLow {
		checks = append(checks,
			check{fmt.Sprintf("p99, serve / peer at %g/s", c.lowRate), authLow, peerLow, p99, 0.1, true, "x", 3},
			check{fmt.Sprintf("CPU per call, serve / peer at %g/s", c.lowRate), authLow, peerLow, cpu, 0.4, true, "x", 3},
			check{fmt.Sprintf("peak RSS, serve / peer at %g/s", c.lowRate), authLow, peerLow, rss, 0.15, true, "x", 3},
			check{fmt.Sprintf("calls/s reached by the peer at %g/s", c.lowRate), peerLow, -1, thr, c.lowRate * 0.98, false, "/s", 0},
		)
	}
	fmt.Fprintln(w, "| check | target | median | rounds | met |")
	fmt.Fprintln(w, "|---|---|---:|---|---|")
	for _, k := range checks {
		var vals []float64
		for _, r := range rounds {
			v := k.f(r[k.a])
			if k.b >= 0 {
				v /= k.f(r[k.b])
			}
			vals = append(vals, v)
		}
		m := median(vals)
		strs := make([]string, len(vals))
		for i, v := range vals {
			strs[i] = fmt.Sprintf("%.*f", k.decimal, v)
		}
		var target string
		var met bool
		switch {
		case k.unit == "/s": // throughput: met when reached
			target, met = fmt.Sprintf(">= %.0f/s (98%% of the rate)", k.limit), m >= k.limit
		case k.atMost:
			target, met = fmt.Sprintf("<= %g%s", k.limit, k.unit), m <= k.limit
		default:
			target, met = fmt.Sprintf("< %g%s", k.limit, k.unit), m < k.limit
		}
		fmt.Fprintf(w, "| %s | %s | %.*f%s | %s | %s |\n", k.what, target, k.decimal, m, k.unit, strings.Join(strs, ", "), yesNo(met))
	}
	fmt.Fprintln(w)
}

// printClient writes the client command timings and the binary sizes against the targets of
// issue 4.
func printClient(w io.Writer, c config, r *clientReport) {
	fmt.Fprintf(w, "### Client commands: wall time of %d runs after 3 warm-up runs (%s), against a local `serve` with auth; node %s\n\n",
		c.clientRuns, r.Timings[0].Tool, r.NodeVersion)
	fmt.Fprintln(w, "| command | median ms | mean ms | min ms | max ms |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	for _, t := range r.Timings {
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.1f |\n", t.Name, t.MedianMs, t.MeanMs, t.MinMs, t.MaxMs)
	}
	fmt.Fprintln(w)
	tokTools, cacheTools, node, help := r.Timings[0], r.Timings[1], r.Timings[2], r.Timings[3]
	fmt.Fprintln(w, "| check | target | value | met |")
	fmt.Fprintln(w, "|---|---|---:|---|")
	fmt.Fprintf(w, "| `tools`, token from the environment | < 30 ms | %.1f ms | %s |\n", tokTools.MedianMs, yesNo(tokTools.MedianMs < 30))
	fmt.Fprintf(w, "| `tools`, token from the login cache | < 30 ms | %.1f ms | %s |\n", cacheTools.MedianMs, yesNo(cacheTools.MedianMs < 30))
	fmt.Fprintf(w, "| TS SDK script / `tools` (environment token) | >= 10x | %.1fx | %s |\n", node.MedianMs/tokTools.MedianMs, yesNo(node.MedianMs/tokTools.MedianMs >= 10))
	fmt.Fprintf(w, "| TS SDK script / `tools` (login cache) | >= 10x | %.1fx | %s |\n", node.MedianMs/cacheTools.MedianMs, yesNo(node.MedianMs/cacheTools.MedianMs >= 10))
	fmt.Fprintf(w, "| `fastmcp-auth --help` | < 20 ms | %.1f ms | %s |\n", help.MedianMs, yesNo(help.MedianMs < 20))
	fmt.Fprintf(w, "| binary size | reported | %.1f MiB | - |\n", float64(r.Size)/(1<<20))
	if r.SizeStripped > 0 {
		fmt.Fprintf(w, "| binary size, `-ldflags \"-s -w\"` | reported | %.1f MiB | - |\n", float64(r.SizeStripped)/(1<<20))
	}
	fmt.Fprintln(w)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
