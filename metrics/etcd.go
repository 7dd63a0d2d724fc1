package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Etcd counts the transactions of a node on an etcd ledger: how long each
// commit took (a quorum's fsync and a round trip) and how often a
// transaction lost to another writer and ran again.
type Etcd struct {
	reg       prometheus.Registerer
	txn       prometheus.Histogram
	carried   prometheus.Histogram
	conflicts prometheus.Counter
}

// NewEtcd registers the etcd collectors; only a node on etcd has them.
func (m *Metrics) NewEtcd() *Etcd {
	e := &Etcd{
		reg: m.reg,
		txn: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "etcd", Name: "txn_duration_seconds",
			Help:    "Time for one etcd Txn carrying a transaction's writes to commit (or fail its compares).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		carried: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "etcd", Name: "txn_writers",
			Help:    "Write transactions one etcd Txn carried: more than one where transactions ready together shared it (--etcd-in-flight).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "etcd", Name: "conflicts_total",
			Help: "Transactions run again because another writer changed what they read.",
		}),
	}
	m.reg.MustRegister(e.txn, e.carried, e.conflicts)
	return e
}

// Txn records one commit's duration.
func (e *Etcd) Txn(d time.Duration) { e.txn.Observe(d.Seconds()) }

// Carried records how many write transactions one Txn carried.
func (e *Etcd) Carried(n int) { e.carried.Observe(float64(n)) }

// Conflict counts one transaction run again.
func (e *Etcd) Conflict() { e.conflicts.Inc() }

// Mirror exposes the node's mirror of issuance records and per-serial
// records (etcdstore): how many keys it holds, and how many keys write
// transactions took from it instead of reading etcd.
func (e *Etcd) Mirror(keys, served func() float64) {
	e.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "etcd", Name: "mirror_keys",
			Help: "Keys the node's mirror holds (issuance records and per-serial records).",
		}, keys),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "etcd", Name: "mirror_served_total",
			Help: "Keys first attempts of write transactions took from the mirror instead of reading them from etcd.",
		}, served))
}

// Watch exposes how often the node's etcd watch, once lost, resumed where
// it stopped or had to start anew (each of those makes the node read its
// whole ledger again: worth an alert).
func (e *Etcd) Watch(restarts func() (resumed, anew uint64)) {
	counter := func(how string, n func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "etcd", Name: "watch_restarts_total",
			Help:        "Times the node's watch of the ledger came back after it was lost: resumed where it stopped, or anew after a compaction took what it missed.",
			ConstLabels: prometheus.Labels{"how": how},
		}, n)
	}
	e.reg.MustRegister(
		counter("resumed", func() float64 { r, _ := restarts(); return float64(r) }),
		counter("anew", func() float64 { _, a := restarts(); return float64(a) }))
}
