package client

import (
	"context"
	"net/url"
	"time"
)

// Page asks for one page of a list; zero values: the server's defaults.
type Page struct {
	Limit  int
	Cursor string // NextCursor of the page before
}

// ProgramList is a page of programs.
type ProgramList struct {
	Programs   []Program `json:"programs"`
	NextCursor string    `json:"next_cursor,omitempty"` // empty on the last page
}

// Programs is GET /v1/programs?merchant= (admin, issuer, auditor).
func (c *Client) Programs(ctx context.Context, merchant string, p Page) (ProgramList, error) {
	q := url.Values{"merchant": {merchant}}
	setInt(q, "limit", p.Limit)
	set(q, "cursor", p.Cursor)
	var out ProgramList
	err := c.call(ctx, request{method: "GET", path: "/v1/programs", query: q}, &out)
	return out, err
}

// CredentialFilter narrows GET /v1/credentials.
type CredentialFilter struct {
	Merchant string
	Kind     string // KindCard, KindPunch, KindCoupon
	Status   string // StatusActive, ...
	Page
}

// CredentialSummary is a credential as listed: never its code.
type CredentialSummary struct {
	Serial   string    `json:"serial"`
	Kind     string    `json:"kind"`
	Status   string    `json:"status"`
	Program  string    `json:"program,omitempty"`
	Offer    string    `json:"offer,omitempty"`
	UsesLeft int       `json:"uses_left"`
	Stamps   *int      `json:"stamps,omitempty"`
	Value    *Money    `json:"value,omitempty"`
	RewardOf string    `json:"reward_of,omitempty"` // a reward coupon's card
	IssuedAt time.Time `json:"issued_at,omitzero"`
	Expires  time.Time `json:"expires,omitzero"`
}

// CredentialList is a page of credentials.
type CredentialList struct {
	Credentials []CredentialSummary `json:"credentials"`
	NextCursor  string              `json:"next_cursor,omitempty"`
}

// Credentials is GET /v1/credentials (admin, issuer, auditor).
func (c *Client) Credentials(ctx context.Context, f CredentialFilter) (CredentialList, error) {
	q := url.Values{"merchant": {f.Merchant}}
	set(q, "kind", f.Kind)
	set(q, "status", f.Status)
	setInt(q, "limit", f.Limit)
	set(q, "cursor", f.Cursor)
	var out CredentialList
	err := c.call(ctx, request{method: "GET", path: "/v1/credentials", query: q}, &out)
	return out, err
}

// RegisterStats are one register's uses in a stats window.
type RegisterStats struct {
	Register    string `json:"register"`
	Stamps      int    `json:"stamps"`
	Redemptions int    `json:"redemptions"`
}

// Stats are a merchant's figures over a window.
type Stats struct {
	From               time.Time       `json:"from,omitzero"`
	To                 time.Time       `json:"to,omitzero"`
	CardsIssued        int             `json:"cards_issued"`
	ActiveCards        int             `json:"active_cards"`
	Stamps             int             `json:"stamps"`
	RewardsEarned      int             `json:"rewards_earned"`
	RewardsRedeemed    int             `json:"rewards_redeemed"`
	RewardsOutstanding int             `json:"rewards_outstanding"`
	CouponsIssued      int             `json:"coupons_issued"`
	CouponsRedeemed    int             `json:"coupons_redeemed"`
	RedemptionRate     float64         `json:"redemption_rate"`
	RepeatVisitRate    float64         `json:"repeat_visit_rate"`
	Refused            map[string]int  `json:"refused"`
	Alerts             map[string]int  `json:"alerts"`
	Registers          []RegisterStats `json:"registers"`
}

// Stats is GET /v1/merchants/{id}/stats (admin or auditor); zero from and
// to: the last 30 days.
func (c *Client) Stats(ctx context.Context, merchant string, from, to time.Time) (Stats, error) {
	q := url.Values{}
	setTime(q, "from", from)
	setTime(q, "to", to)
	var out Stats
	err := c.call(ctx, request{method: "GET", path: "/v1/merchants/" + seg(merchant) + "/stats", query: q}, &out)
	return out, err
}
