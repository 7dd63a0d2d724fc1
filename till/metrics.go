package till

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// counters are the agent's Prometheus metrics, in a registry of its own.
// Label values come from small fixed sets: operations, decisions (the
// contract's refusal codes) and sync statuses.
type counters struct {
	decisions *prometheus.CounterVec
	syncs     *prometheus.CounterVec
}

func (c *counters) decided(op, result string) {
	if c.decisions != nil {
		c.decisions.WithLabelValues(op, result).Inc()
	}
}

func (c *counters) synced(status string) {
	if c.syncs != nil {
		c.syncs.WithLabelValues(status).Inc()
	}
}

// metricsHandler serves the agent's metrics.
func (a *Agent) metricsHandler() http.Handler {
	return promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{})
}

// registerMetrics makes the agent's metrics; Open calls it once.
func (a *Agent) registerMetrics() {
	reg := prometheus.NewRegistry()
	a.registry = reg
	a.stats.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "stampseal", Subsystem: "till",
		Name: "decisions_total", Help: "Register calls by operation and how they were answered: online (by the server), offline (by the agent), or the agent's refusal code."},
		[]string{"op", "result"})
	a.stats.syncs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "stampseal", Subsystem: "till",
		Name: "synced_operations_total", Help: "Queued operations the server answered for, by status (applied, duplicate, conflict, refused)."},
		[]string{"status"})
	gauge := func(name, help string, f func(Health) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "stampseal", Subsystem: "till", Name: name, Help: help},
			func() float64 { return f(a.Health()) })
	}
	reg.MustRegister(a.stats.decisions, a.stats.syncs,
		gauge("online", "1 while the server answers, 0 while the agent decides offline.", func(h Health) float64 {
			if h.Online {
				return 1
			}
			return 0
		}),
		gauge("queue_length", "Operations decided offline and not yet acknowledged by the server.", func(h Health) float64 { return float64(h.QueueLength) }),
		gauge("oldest_queued_seconds", "Age of the oldest queued operation; 0 when the queue is empty.", func(h Health) float64 { return h.OldestQueued }),
		gauge("snapshot_age_seconds", "Age of the snapshot the agent decides with; -1 when it has none.", func(h Health) float64 { return h.SnapshotAge }),
		gauge("offline_seconds", "How long the server has not answered; 0 while online.", func(h Health) float64 { return h.OfflineFor }),
	)
}
