package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Etcd counts the transactions of a node on an etcd ledger: how long each
// commit took (a quorum's fsync and a round trip) and how often a
// transaction lost to another writer and ran again.
type Etcd struct {
	txn       prometheus.Histogram
	conflicts prometheus.Counter
}

// NewEtcd registers the etcd collectors; only a node on etcd has them.
func (m *Metrics) NewEtcd() *Etcd {
	e := &Etcd{
		txn: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "etcd", Name: "txn_duration_seconds",
			Help:    "Time for one etcd Txn carrying a transaction's writes to commit (or fail its compares).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "etcd", Name: "conflicts_total",
			Help: "Transactions run again because another writer changed what they read.",
		}),
	}
	m.reg.MustRegister(e.txn, e.conflicts)
	return e
}

// Txn records one commit's duration.
func (e *Etcd) Txn(d time.Duration) { e.txn.Observe(d.Seconds()) }

// Conflict counts one transaction run again.
func (e *Etcd) Conflict() { e.conflicts.Inc() }
