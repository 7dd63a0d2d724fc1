// Package metrics holds stampseal's Prometheus collectors in one registry.
// Label values come from small fixed sets (operations, result codes, route
// templates): never a code, serial, key or token.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "stampseal"

// Metrics is the set of collectors. The zero value is not usable; call New.
type Metrics struct {
	reg        *prometheus.Registry
	issued     *prometheus.CounterVec
	decisions  *prometheus.CounterVec
	httpDur    *prometheus.HistogramVec
	alerts     *prometheus.CounterVec
	openAlerts prometheus.Gauge
	verdicts   *prometheus.CounterVec
	commitDur  prometheus.Histogram
	commitSize prometheus.Histogram

	// The series of every request and decision, resolved once per label
	// set: WithLabelValues hashes the labels and formats the status code
	// on every call. The label sets are few (see the package comment).
	mu        sync.RWMutex
	httpSeen  map[httpLabels]prometheus.Observer
	decisionN map[[2]string]prometheus.Counter
}

type httpLabels struct {
	route, method string
	code          int
}

// New registers the collectors, plus Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "issued_credentials_total",
			Help: "Credentials issued, by kind.",
		}, []string{"kind"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "decisions_total",
			Help: "Verifications, redemptions, stamps and claims, by operation and result (ok or a refusal reason).",
		}, []string{"op", "result"}),
		httpDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "HTTP request latency by route template, method and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method", "code"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "fraud_alerts_total",
			Help: "Fraud alerts raised, by kind.",
		}, []string{"kind"}),
		openAlerts: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "fraud_open_alerts",
			Help: "Fraud alerts not yet resolved.",
		}),
		// Fine buckets below 10 ms: a commit holds two fsyncs, and its tail
		// is what bounds the tail of every redemption.
		commitDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "storage", Name: "commit_duration_seconds",
			Help:    "Time from the start of a group commit until it is durable (two fsyncs in bbolt).",
			Buckets: []float64{.00025, .0005, .001, .0015, .002, .003, .005, .0075, .01, .025, .05, .1},
		}),
		commitSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "storage", Name: "commit_batch_writes",
			Help:    "Writes carried by one group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 9), // 1 to 256, the batch bound
		}),
	}
	m.verdicts = newVerdicts()
	m.reg.MustRegister(m.verdicts)
	m.reg.MustRegister(m.issued, m.decisions, m.httpDur, m.alerts, m.openAlerts, m.commitDur, m.commitSize,
		// The scheduler's metrics include go_sched_latencies_seconds: how
		// long goroutines waited for a CPU, the server's own share of a
		// request's tail (stampseal bench prints it).
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds a further collector (such as StorageCollector).
func (m *Metrics) Register(c prometheus.Collector) { m.reg.MustRegister(c) }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Issued counts n credentials of kind.
func (m *Metrics) Issued(kind string, n int) { m.issued.WithLabelValues(kind).Add(float64(n)) }

// Decision counts one verification, redemption, stamp or claim.
func (m *Metrics) Decision(op, result string) {
	k := [2]string{op, result}
	m.mu.RLock()
	c, ok := m.decisionN[k]
	m.mu.RUnlock()
	if !ok {
		c = m.decisions.WithLabelValues(op, result)
		m.mu.Lock()
		if m.decisionN == nil {
			m.decisionN = map[[2]string]prometheus.Counter{}
		}
		m.decisionN[k] = c
		m.mu.Unlock()
	}
	c.Inc()
}

// HTTPRequest observes one request; route is the mux template, not the path.
func (m *Metrics) HTTPRequest(route, method string, code int, d time.Duration) {
	k := httpLabels{route, method, code}
	m.mu.RLock()
	o, ok := m.httpSeen[k]
	m.mu.RUnlock()
	if !ok {
		o = m.httpDur.WithLabelValues(route, method, strconv.Itoa(code))
		m.mu.Lock()
		if m.httpSeen == nil {
			m.httpSeen = map[httpLabels]prometheus.Observer{}
		}
		m.httpSeen[k] = o
		m.mu.Unlock()
	}
	o.Observe(d.Seconds())
}

// Commit observes one group commit of writes that took d to be durable.
func (m *Metrics) Commit(writes int, d time.Duration) {
	m.commitDur.Observe(d.Seconds())
	m.commitSize.Observe(float64(writes))
}

// AlertRaised counts a new fraud alert.
func (m *Metrics) AlertRaised(kind string) { m.alerts.WithLabelValues(kind).Inc() }

// OpenAlerts sets the number of open alerts.
func (m *Metrics) OpenAlerts(n int) { m.openAlerts.Set(float64(n)) }
