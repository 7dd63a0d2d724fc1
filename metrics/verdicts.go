package metrics

import "github.com/prometheus/client_golang/prometheus"

// newVerdicts counts the verdicts auditors give when resolving alerts. A
// detector's precision is
//
//	sum by (kind) (stampseal_alert_verdicts_total{verdict="confirmed_fraud"})
//	/ sum by (kind) (stampseal_alert_verdicts_total{verdict=~"confirmed_fraud|false_positive"})
func newVerdicts() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "alert_verdicts_total",
		Help: "Alerts resolved with a verdict, by alert kind and verdict (confirmed_fraud, false_positive, benign).",
	}, []string{"kind", "verdict"})
}

// AlertVerdict counts one verdict on an alert of kind.
func (m *Metrics) AlertVerdict(kind, verdict string) { m.verdicts.WithLabelValues(kind, verdict).Inc() }
