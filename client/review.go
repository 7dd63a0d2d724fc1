package client

import (
	"context"
	"encoding/json"
	"net/url"
	"time"
)

// Alert is a fraud alert: one incident, counted while it goes on.
type Alert struct {
	ID         string      `json:"id"`
	Kind       string      `json:"kind"`
	Severity   string      `json:"severity"`
	Serial     string      `json:"serial"`
	Merchant   string      `json:"merchant"`
	CreatedAt  time.Time   `json:"created_at"`
	LastSeen   time.Time   `json:"last_seen,omitzero"`
	Count      int         `json:"count,omitempty"`
	Status     string      `json:"status"`
	Evidence   Evidence    `json:"evidence"`
	Resolution *Resolution `json:"resolution,omitempty"`
}

// Evidence is what an alert saw. Raw holds the whole object, for fields
// beyond these.
type Evidence struct {
	Rules     []string        `json:"rules,omitempty"`
	Registers []string        `json:"registers,omitempty"`
	Sources   []string        `json:"sources,omitempty"`
	APIKeys   []string        `json:"api_keys,omitempty"`
	Serials   []string        `json:"serials,omitempty"`
	Results   map[string]int  `json:"results,omitempty"`
	Times     []time.Time     `json:"times,omitempty"`
	Raw       json.RawMessage `json:"-"`
}

// UnmarshalJSON keeps the raw object beside the known fields.
func (e *Evidence) UnmarshalJSON(b []byte) error {
	type plain Evidence
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*e = Evidence(p)
	e.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// Resolution is how security staff closed an alert.
type Resolution struct {
	Note           string    `json:"note"`
	By             string    `json:"by"`
	At             time.Time `json:"at"`
	Verdict        string    `json:"verdict,omitempty"`
	ThrottleLifted bool      `json:"throttle_lifted,omitempty"`
}

// AlertFilter narrows GET /v1/alerts; zero values do not filter.
type AlertFilter struct {
	Merchant string // required for an all-merchants admin key
	Status   string // open, resolved
	Kind     string
	Severity string
	Since    time.Time
	Limit    int
}

// Alerts is GET /v1/alerts (auditor or admin).
func (c *Client) Alerts(ctx context.Context, f AlertFilter) ([]Alert, error) {
	q := url.Values{}
	set(q, "merchant", f.Merchant)
	set(q, "status", f.Status)
	set(q, "kind", f.Kind)
	set(q, "severity", f.Severity)
	setTime(q, "since", f.Since)
	setInt(q, "limit", f.Limit)
	var out struct {
		Alerts []Alert `json:"alerts"`
	}
	err := c.call(ctx, request{method: "GET", path: "/v1/alerts", query: q}, &out)
	return out.Alerts, err
}

// Verdicts on a resolved alert.
const (
	VerdictConfirmedFraud = "confirmed_fraud"
	VerdictFalsePositive  = "false_positive"
	VerdictBenign         = "benign" // real, but not fraud
)

// Resolve is how security staff close an alert.
type Resolve struct {
	Note         string `json:"note"`
	Verdict      string `json:"verdict,omitempty"`
	LiftThrottle bool   `json:"lift_throttle,omitempty"` // also lift the throttle the incident set
}

// ResolveAlert is POST /v1/alerts/{id}/resolve (auditor or admin); merchant
// is needed only by an all-merchants admin key.
func (c *Client) ResolveAlert(ctx context.Context, merchant, id string, body Resolve) (Alert, error) {
	return actFor[Alert](ctx, c, "alerts", id, "resolve", merchantQuery(merchant), body)
}

// Block is POST /v1/credentials/{serial}/block (auditor or admin): every
// later verify says blocked and every use is refused.
func (c *Client) Block(ctx context.Context, merchant, serial, reason string) error {
	return c.act(ctx, "credentials", serial, "block", merchantQuery(merchant), reasonBody{reason}, nil)
}

// Unblock is POST /v1/credentials/{serial}/unblock (auditor or admin).
func (c *Client) Unblock(ctx context.Context, merchant, serial, reason string) error {
	return c.act(ctx, "credentials", serial, "unblock", merchantQuery(merchant), reasonBody{reason}, nil)
}

func merchantQuery(merchant string) url.Values {
	q := url.Values{}
	set(q, "merchant", merchant)
	return q
}

// MarkStaff is POST /v1/credentials/{serial}/staff (auditor or admin): a
// staff card's many stamps are watched as insider, not velocity.
func (c *Client) MarkStaff(ctx context.Context, merchant, serial, note string) error {
	body := struct {
		Note string `json:"note,omitempty"`
	}{note}
	return c.act(ctx, "credentials", serial, "staff", merchantQuery(merchant), body, nil)
}

// LiftThrottle is POST /v1/throttles/{key_id}/lift (auditor or admin); it
// reports whether the key was throttled.
func (c *Client) LiftThrottle(ctx context.Context, merchant, keyID string) (bool, error) {
	var out struct {
		Lifted bool `json:"lifted"`
	}
	err := c.act(ctx, "throttles", keyID, "lift", merchantQuery(merchant), nil, &out)
	return out.Lifted, err
}

// DetectorStats are one detector's alerts and verdicts.
type DetectorStats struct {
	Kind           string  `json:"kind"`
	Alerts         int     `json:"alerts"`
	Open           int     `json:"open"`
	Noted          int     `json:"noted"`
	ConfirmedFraud int     `json:"confirmed_fraud"`
	FalsePositive  int     `json:"false_positive"`
	Benign         int     `json:"benign"`
	NoVerdict      int     `json:"no_verdict"`
	Precision      float64 `json:"precision"` // -1 when no verdicts
}

// AlertStats are a merchant's alerts over a window.
type AlertStats struct {
	Merchant     string          `json:"merchant"`
	From         time.Time       `json:"from"`
	To           time.Time       `json:"to"`
	Alerts       int             `json:"alerts"`
	AlertsPerDay float64         `json:"alerts_per_day"`
	Precision    float64         `json:"precision"` // -1 when no verdicts
	Detectors    []DetectorStats `json:"detectors"`
}

// AlertStats is GET /v1/alerts/stats (auditor or admin); zero from and to:
// the last 30 days.
func (c *Client) AlertStats(ctx context.Context, merchant string, from, to time.Time) (AlertStats, error) {
	q := merchantQuery(merchant)
	setTime(q, "from", from)
	setTime(q, "to", to)
	var out AlertStats
	err := c.call(ctx, request{method: "GET", path: "/v1/alerts/stats", query: q}, &out)
	return out, err
}
