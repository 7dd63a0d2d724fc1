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
	Note string    `json:"note"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
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

// ResolveAlert is POST /v1/alerts/{id}/resolve (auditor or admin); merchant
// is needed only by an all-merchants admin key.
func (c *Client) ResolveAlert(ctx context.Context, merchant, id, note string) (Alert, error) {
	if id == "" {
		return Alert{}, errNoID
	}
	body := struct {
		Note string `json:"note"`
	}{note}
	var out Alert
	err := c.call(ctx, request{method: "POST", path: "/v1/alerts/" + seg(id) + "/resolve", query: merchantQuery(merchant), body: body}, &out)
	return out, err
}

// Block is POST /v1/credentials/{serial}/block (auditor or admin): every
// later verify says blocked and every use is refused.
func (c *Client) Block(ctx context.Context, merchant, serial, reason string) error {
	return c.call(ctx, request{method: "POST", path: "/v1/credentials/" + seg(serial) + "/block", query: merchantQuery(merchant), body: reasonBody{reason}}, nil)
}

// Unblock is POST /v1/credentials/{serial}/unblock (auditor or admin).
func (c *Client) Unblock(ctx context.Context, merchant, serial, reason string) error {
	return c.call(ctx, request{method: "POST", path: "/v1/credentials/" + seg(serial) + "/unblock", query: merchantQuery(merchant), body: reasonBody{reason}}, nil)
}

func merchantQuery(merchant string) url.Values {
	q := url.Values{}
	set(q, "merchant", merchant)
	return q
}
