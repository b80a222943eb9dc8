package gateway

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxToolLabels bounds the distinct tool names used as label values: a caller can ask for any
// name, and each new label value is a new time series kept forever.
const maxToolLabels = 200

// Metrics are the Prometheus metrics of a gateway (--metrics-addr). Names are prefixed
// fastmcp_auth_.
type Metrics struct {
	reg          *prometheus.Registry
	requests     *prometheus.CounterVec
	requestDur   *prometheus.HistogramVec
	authFailures *prometheus.CounterVec
	toolCalls    *prometheus.CounterVec
	toolDur      *prometheus.HistogramVec
	upstreams    prometheus.Gauge

	mu    sync.Mutex
	tools map[string]bool // tool names in use as label values (at most maxToolLabels)
}

// NewMetrics registers the metrics (and the Go and process collectors) in a registry of their own.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fastmcp_auth_http_requests_total", Help: "HTTP requests by method and status code.",
		}, []string{"method", "code"}),
		requestDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fastmcp_auth_http_request_duration_seconds", Help: "HTTP request latency (event streams last as long as the client keeps them).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"method"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fastmcp_auth_auth_failures_total", Help: "Requests refused before reaching MCP, by reason (missing_token, expired, wrong_audience, insufficient_scope, origin_not_allowed, ...).",
		}, []string{"reason"}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fastmcp_auth_tool_calls_total", Help: "Tool calls by tool and outcome (ok, error, denied).",
		}, []string{"tool", "outcome"}),
		toolDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "fastmcp_auth_tool_call_duration_seconds", Help: "Tool call latency through the gateway, upstream included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"tool"}),
		upstreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fastmcp_auth_upstream_sessions", Help: "Live sessions, each with its own upstream (child process or upstream session).",
		}),
		tools: map[string]bool{},
	}
	m.reg.MustRegister(m.requests, m.requestDur, m.authFailures, m.toolCalls, m.toolDur, m.upstreams,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler { return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}) }

// ObserveRequest counts one HTTP request; reason is why it was refused before MCP, if it was.
func (m *Metrics) ObserveRequest(method string, status int, reason string, d time.Duration) {
	// The method is the client's to choose: any other word is "other", so that a scanner
	// sending made-up methods cannot create series without bound.
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodOptions:
	default:
		method = "other"
	}
	m.requests.WithLabelValues(method, strconv.Itoa(status)).Inc()
	m.requestDur.WithLabelValues(method).Observe(d.Seconds())
	if reason != "" {
		m.authFailures.WithLabelValues(reason).Inc()
	}
}

// ObserveEvent counts a tool call or denial.
func (m *Metrics) ObserveEvent(e Event) {
	// Only tools are counted: the metric names say tool calls, and prompts and resources
	// (URIs of unbounded variety) would only add series.
	if e.Kind != "" && e.Kind != "tool" {
		return
	}
	tool := m.toolLabel(e.Name, e.Outcome)
	m.toolCalls.WithLabelValues(tool, e.Outcome).Inc()
	// A denial never reached the upstream: its (zero) duration would skew the latency.
	if e.Event == "call" {
		m.toolDur.WithLabelValues(tool).Observe(e.Duration.Seconds())
	}
}

// toolLabel is name, or "other" for a denied name (the caller chose it) and beyond
// maxToolLabels distinct names.
func (m *Metrics) toolLabel(name, outcome string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tools[name] {
		return name
	}
	if outcome == "denied" || len(m.tools) >= maxToolLabels {
		return "other"
	}
	m.tools[name] = true
	return name
}

// SetSessions sets the live sessions gauge (Config.OnSessions). With --shared-upstream or
// --per-user it still counts sessions, not processes: a session is what holds an upstream
// connection.
func (m *Metrics) SetSessions(n int) { m.upstreams.Set(float64(n)) }
