package fraud

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stampseal/stampseal/storage"
)

// Verdict is what an auditor concluded when resolving an alert.
type Verdict string

// The verdicts. An empty verdict means none was given.
const (
	VerdictConfirmedFraud Verdict = "confirmed_fraud"
	VerdictFalsePositive  Verdict = "false_positive"
	VerdictBenign         Verdict = "benign" // real, but not fraud: a family sharing a card, a training scan
)

// Valid reports whether v is empty or one of the verdicts.
func (v Verdict) Valid() bool {
	switch v {
	case "", VerdictConfirmedFraud, VerdictFalsePositive, VerdictBenign:
		return true
	}
	return false
}

// Resolving is how an auditor closes an alert.
type Resolving struct {
	Note    string
	By      string
	Verdict Verdict
	// LiftThrottle lifts the throttle of the API key the alert is about
	// (a guessing or counterfeit incident), when there is one.
	LiftThrottle bool
}

// VerdictMetrics is told of every verdict; metrics.Metrics is one. A
// Metrics given to WithMetrics that also implements it receives them.
type VerdictMetrics interface {
	AlertVerdict(kind, verdict string)
}

// subjectOf reads the scope and subject back from a stored incident key.
func subjectOf(incident string) (scope, subject string) {
	parts := strings.SplitN(incident, "/", 5) // inc, merchant, kind, scope, subject
	if len(parts) != 5 {
		return "", ""
	}
	return parts[3], parts[4]
}

// DetectorStats is how one alert kind has fared with the auditors.
type DetectorStats struct {
	Kind           string  `json:"kind"`
	Alerts         int     `json:"alerts"`
	Open           int     `json:"open"`
	Noted          int     `json:"noted"`
	ConfirmedFraud int     `json:"confirmed_fraud"`
	FalsePositive  int     `json:"false_positive"`
	Benign         int     `json:"benign"`
	NoVerdict      int     `json:"no_verdict"` // resolved without a verdict
	Precision      float64 `json:"precision"`  // confirmed / (confirmed + false positive); -1 when neither
}

// Stats is a merchant's alerts over a window, for the review page and
// GET /v1/alerts/stats.
type Stats struct {
	Merchant     string          `json:"merchant"`
	From         time.Time       `json:"from"`
	To           time.Time       `json:"to"`
	Alerts       int             `json:"alerts"`         // opened for review (noted records excluded)
	AlertsPerDay float64         `json:"alerts_per_day"` // for the security desk
	Precision    float64         `json:"precision"`      // over all kinds; -1 when no verdicts
	Detectors    []DetectorStats `json:"detectors"`
}

// Stats counts the merchant's alerts created in [from, to) by kind, with
// the verdicts given, each detector's precision and the alerts a day.
func (m *Monitor) Stats(merchant string, from, to time.Time) (Stats, error) {
	if !to.After(from) {
		return Stats{}, fmt.Errorf("%w: the window must end after it starts", ErrInvalid)
	}
	by := map[string]*DetectorStats{}
	for _, k := range Kinds {
		by[k] = &DetectorStats{Kind: k}
	}
	err := m.store.View(func(tx storage.Tx) error {
		return tx.Scan(storage.Alerts, []byte(merchant+"/"), func(k, v []byte) error {
			var rec alertRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode alert %x: %w", k, err)
			}
			if rec.Merchant != merchant {
				return nil
			}
			if rec.CreatedAt.Before(from) {
				return errStop // newest first: the rest is older still
			}
			if !rec.CreatedAt.Before(to) {
				return nil
			}
			d := by[rec.Kind]
			if d == nil {
				d = &DetectorStats{Kind: rec.Kind}
				by[rec.Kind] = d
			}
			if rec.Status == StatusNoted {
				d.Noted++
				return nil
			}
			d.Alerts++
			switch {
			case rec.Status == StatusOpen:
				d.Open++
			case rec.Resolution == nil || rec.Resolution.Verdict == "":
				d.NoVerdict++
			case rec.Resolution.Verdict == VerdictConfirmedFraud:
				d.ConfirmedFraud++
			case rec.Resolution.Verdict == VerdictFalsePositive:
				d.FalsePositive++
			case rec.Resolution.Verdict == VerdictBenign:
				d.Benign++
			}
			return nil
		})
	})
	if err != nil && !errors.Is(err, errStop) {
		return Stats{}, fmt.Errorf("alert stats of %s: %w", merchant, err)
	}
	out := Stats{Merchant: merchant, From: from.UTC(), To: to.UTC(), Precision: -1}
	var tp, fp int
	for _, k := range Kinds {
		d := by[k]
		delete(by, k)
		d.Precision = precision(d.ConfirmedFraud, d.FalsePositive)
		out.Alerts += d.Alerts
		tp, fp = tp+d.ConfirmedFraud, fp+d.FalsePositive
		out.Detectors = append(out.Detectors, *d)
	}
	for _, d := range by { // kinds added by other packages
		d.Precision = precision(d.ConfirmedFraud, d.FalsePositive)
		out.Alerts += d.Alerts
		tp, fp = tp+d.ConfirmedFraud, fp+d.FalsePositive
		out.Detectors = append(out.Detectors, *d)
	}
	out.Precision = precision(tp, fp)
	out.AlertsPerDay = float64(out.Alerts) / (to.Sub(from).Hours() / 24)
	return out, nil
}

func precision(tp, fp int) float64 {
	if tp+fp == 0 {
		return -1
	}
	return float64(tp) / float64(tp+fp)
}

// PrecisionText is Precision as a percentage, or a dash without verdicts.
func (d DetectorStats) PrecisionText() string { return percent(d.Precision) }

// PrecisionText is Precision as a percentage, or a dash without verdicts.
func (s Stats) PrecisionText() string { return percent(s.Precision) }

func percent(p float64) string {
	if p < 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", p*100)
}
