package client

import (
	"context"
	"encoding/json"
	"net/url"
	"time"
)

// Statuses of a credential.
const (
	StatusActive      = "active"
	StatusRedeemed    = "redeemed"
	StatusExpired     = "expired"
	StatusNotYetValid = "not_yet_valid"
	StatusRevoked     = "revoked"
	StatusBlocked     = "blocked"
)

// Code names the credential a register call is about: the signed code as
// scanned, or the short code typed in where a scanner fails. Set one.
type Code struct {
	Code      string `json:"code,omitempty"`
	ShortCode string `json:"short_code,omitempty"`
}

// Verification is the answer of POST /v1/verify.
type Verification struct {
	Valid    bool      `json:"valid"`
	Kind     string    `json:"kind,omitempty"`
	Serial   string    `json:"serial,omitempty"`
	Merchant string    `json:"merchant,omitempty"`
	Status   string    `json:"status"`
	Reason   string    `json:"reason,omitempty"` // when not valid
	UsesLeft *int      `json:"uses_left,omitempty"`
	Offer    string    `json:"offer,omitempty"`
	Program  string    `json:"program,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
	Offline  bool      `json:"offline,omitempty"` // decided by a till agent cut off from the server
}

// Verify is POST /v1/verify (register): what the code is, changing nothing.
func (c *Client) Verify(ctx context.Context, code Code) (Verification, error) {
	var out Verification
	err := c.call(ctx, request{method: "POST", path: "/v1/verify", body: code}, &out)
	return out, err
}

// RedeemRequest is the body of POST /v1/redeem.
type RedeemRequest struct {
	Code
	Register string `json:"register,omitempty"` // a label kept as evidence; the key is the till
	// IdempotencyKey makes a retry answer the first answer again.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// Redemption is one use of a coupon or reward.
type Redemption struct {
	Redeemed     bool      `json:"redeemed"`
	RedemptionID string    `json:"redemption_id,omitempty"`
	Serial       string    `json:"serial"`
	UsesLeft     int       `json:"uses_left"`
	RedeemedAt   time.Time `json:"redeemed_at"`
	Register     string    `json:"register,omitempty"`
	Offline      bool      `json:"offline,omitempty"`
}

// Redeem is POST /v1/redeem (register). A used code answers an *Error with
// Code already_redeemed and the first use's RedeemedAt and Register.
func (c *Client) Redeem(ctx context.Context, r RedeemRequest) (Redemption, error) {
	var out Redemption
	err := c.call(ctx, request{method: "POST", path: "/v1/redeem", body: r}, &out)
	return out, err
}

// StampRequest is the body of POST /v1/cards/stamp.
type StampRequest struct {
	CardCode       string `json:"card_code,omitempty"`
	ShortCode      string `json:"short_code,omitempty"`
	Stamps         int    `json:"stamps,omitempty"` // zero: 1
	Register       string `json:"register,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// CardUpdate is the answer of a stamp or a claim: the card now, and the
// reward coupons issued as it filled.
type CardUpdate struct {
	StampID        string       `json:"stamp_id,omitempty"`
	Serial         string       `json:"serial"`
	Stamps         int          `json:"stamps"`
	StampsRequired int          `json:"stamps_required"`
	StampsTotal    int          `json:"stamps_total,omitempty"`
	Added          int          `json:"added,omitempty"`
	Rewards        []Credential `json:"rewards"`
	Offline        bool         `json:"offline,omitempty"`
}

// Stamp is POST /v1/cards/stamp (register).
func (c *Client) Stamp(ctx context.Context, r StampRequest) (CardUpdate, error) {
	var out CardUpdate
	err := c.call(ctx, request{method: "POST", path: "/v1/cards/stamp", body: r}, &out)
	return out, err
}

// ClaimRequest is the body of POST /v1/cards/claim: a punch's stamps go
// onto a card.
type ClaimRequest struct {
	CardCode       string `json:"card_code"`
	PunchCode      string `json:"punch_code"`
	Register       string `json:"register,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// Claim is POST /v1/cards/claim (register). A punch claimed before answers
// already_redeemed.
func (c *Client) Claim(ctx context.Context, r ClaimRequest) (CardUpdate, error) {
	var out CardUpdate
	err := c.call(ctx, request{method: "POST", path: "/v1/cards/claim", body: r}, &out)
	return out, err
}

// HistoryEntry is one event of a credential's life.
type HistoryEntry struct {
	At       time.Time `json:"at"`
	Op       string    `json:"op"` // stamp, claim, redeem, reward, ...
	Register string    `json:"register,omitempty"`
	Stamps   int       `json:"stamps,omitempty"`
	Source   string    `json:"source,omitempty"`
	Punch    string    `json:"punch,omitempty"`
	Card     string    `json:"card,omitempty"`
	Reward   string    `json:"reward,omitempty"`
}

// RewardStatus is a reward coupon earned on a card.
type RewardStatus struct {
	Serial   string `json:"serial"`
	Redeemed bool   `json:"redeemed"`
}

// CredentialStatus is what the ledger knows of one credential.
type CredentialStatus struct {
	Serial         string         `json:"serial"`
	Kind           string         `json:"kind"`
	Merchant       string         `json:"merchant"`
	Status         string         `json:"status"`
	UsesLeft       int            `json:"uses_left"`
	Stamps         *int           `json:"stamps,omitempty"` // cards
	StampsRequired int            `json:"stamps_required,omitempty"`
	StampsTotal    int            `json:"stamps_total,omitempty"`
	Rewards        []RewardStatus `json:"rewards,omitempty"`
	Program        string         `json:"program,omitempty"`
	Offer          string         `json:"offer,omitempty"`
	RewardOf       string         `json:"reward_of,omitempty"`
	IssuedAt       time.Time      `json:"issued_at"`
	Expires        time.Time      `json:"expires,omitzero"`
	History        []HistoryEntry `json:"history"`
	// NextCursor pages History: pass it as HistoryPage.Before.
	NextCursor string `json:"next_cursor,omitempty"`
}

// HistoryPage pages a credential's history; zero values: the server's
// defaults.
type HistoryPage struct {
	Merchant string // for an all-merchants key
	Limit    int
	Before   string // a cursor from CredentialStatus.NextCursor
}

// Credential is GET /v1/credentials/{serial}.
func (c *Client) Credential(ctx context.Context, serial string, p HistoryPage) (CredentialStatus, error) {
	q := url.Values{}
	set(q, "merchant", p.Merchant)
	setInt(q, "limit", p.Limit)
	set(q, "before", p.Before)
	var out CredentialStatus
	err := c.call(ctx, request{method: "GET", path: "/v1/credentials/" + seg(serial), query: q}, &out)
	return out, err
}

// ReserveRequest is the body of POST /v1/reservations: hold one use.
type ReserveRequest struct {
	Code
	Register       string   `json:"register,omitempty"`
	TTL            Duration `json:"ttl,omitzero"` // zero: 5m; at most 30m
	IdempotencyKey string   `json:"idempotency_key,omitempty"`
}

// Reservation is a held use. Another redeem or reservation of a code with
// no free use answers reserved while it holds.
type Reservation struct {
	ReservationID string    `json:"reservation_id"`
	Serial        string    `json:"serial"`
	ExpiresAt     time.Time `json:"expires_at"`
	UsesLeft      int       `json:"uses_left"`
}

// Reserve is POST /v1/reservations (register).
func (c *Client) Reserve(ctx context.Context, r ReserveRequest) (Reservation, error) {
	var out Reservation
	err := c.call(ctx, request{method: "POST", path: "/v1/reservations", body: r}, &out)
	return out, err
}

// ConfirmReservation is POST /v1/reservations/{id}/confirm: the held use
// becomes a redemption. After expiry: reservation_expired.
func (c *Client) ConfirmReservation(ctx context.Context, id, idempotencyKey string) (Redemption, error) {
	body := struct {
		IdempotencyKey string `json:"idempotency_key,omitempty"`
	}{idempotencyKey}
	return actFor[Redemption](ctx, c, "reservations", id, "confirm", nil, body)
}

// ReleaseReservation is POST /v1/reservations/{id}/release: the use is free
// again.
func (c *Client) ReleaseReservation(ctx context.Context, id string) error {
	var out struct {
		Released bool `json:"released"`
	}
	return c.act(ctx, "reservations", id, "release", nil, nil, &out)
}

// RedemptionVoid is the answer of a void: the use is given back.
type RedemptionVoid struct {
	Voided   bool   `json:"voided"`
	Serial   string `json:"serial"`
	UsesLeft int    `json:"uses_left"`
}

// VoidRedemption is POST /v1/redemptions/{id}/void (register or admin).
// Past the void window: void_window_passed.
func (c *Client) VoidRedemption(ctx context.Context, id, reason string) (RedemptionVoid, error) {
	return actFor[RedemptionVoid](ctx, c, "redemptions", id, "void", nil, reasonBody{reason})
}

// StampVoid is the answer of a stamp void.
type StampVoid struct {
	Serial string `json:"serial"`
	Stamps int    `json:"stamps"`
	// RewardKept: a reward the stamps earned was redeemed already and
	// stays.
	RewardKept bool `json:"reward_kept,omitempty"`
}

// VoidStamp is POST /v1/stamps/{id}/void: the stamps are taken back.
func (c *Client) VoidStamp(ctx context.Context, id, reason string) (StampVoid, error) {
	return actFor[StampVoid](ctx, c, "stamps", id, "void", nil, reasonBody{reason})
}

// Snapshot is what a till agent keeps to decide offline: the server's
// document as sent (public keysets, blocklist, compromised keys, offline
// policy), and its ETag.
type Snapshot struct {
	ETag        string
	NotModified bool            // the ETag asked with still holds; Body is empty
	Body        json.RawMessage // decode into the till's own type
}

// Snapshot is GET /v1/registers/snapshot (register). With ifNoneMatch set
// to a held ETag, an unchanged snapshot answers NotModified.
func (c *Client) Snapshot(ctx context.Context, ifNoneMatch string) (Snapshot, error) {
	r := request{method: "GET", path: "/v1/registers/snapshot"}
	if ifNoneMatch != "" {
		r.header = map[string][]string{"If-None-Match": {ifNoneMatch}}
	}
	img, err := c.image(ctx, r)
	if err != nil {
		return Snapshot{}, err
	}
	return Snapshot{ETag: img.ETag, NotModified: img.NotModified, Body: img.Data}, nil
}

// Sync operations.
const (
	OpRedeem = "redeem"
	OpStamp  = "stamp"
	OpClaim  = "claim"
)

// SyncOperation is one operation a till agent took offline.
type SyncOperation struct {
	Op             string    `json:"op"` // OpRedeem, OpStamp, OpClaim
	Code           string    `json:"code,omitempty"`
	CardCode       string    `json:"card_code,omitempty"`
	PunchCode      string    `json:"punch_code,omitempty"`
	Stamps         int       `json:"stamps,omitempty"`
	Register       string    `json:"register"`
	IdempotencyKey string    `json:"idempotency_key"`
	At             time.Time `json:"at"` // the till's time
}

// Sync outcomes.
const (
	SyncApplied   = "applied"
	SyncDuplicate = "duplicate"
	SyncConflict  = "conflict"
	SyncRefused   = "refused"
)

// SyncResult is the server's word on one operation. Raw holds the whole
// result object, for fields beyond these.
type SyncResult struct {
	IdempotencyKey string `json:"idempotency_key"`
	Status         string `json:"status"`                 // SyncApplied, ...
	FirstStatus    string `json:"first_status,omitempty"` // for a duplicate: its first status
	Reason         string `json:"reason,omitempty"`       // snake_case, for refused
	// At is the till's time as the ledger took it; AtClamped: moved into
	// the bounds the server accepts.
	At         time.Time        `json:"at"`
	AtClamped  bool             `json:"at_clamped,omitempty"`
	Redemption *Redemption      `json:"redemption,omitempty"`
	Stamp      *CardUpdate      `json:"stamp,omitempty"`
	Conflict   *OfflineConflict `json:"conflict,omitempty"`

	Raw json.RawMessage `json:"-"`
}

// OfflineConflict names both uses of a single-use code spent twice; the first
// stays in the ledger.
type OfflineConflict struct {
	Serial string  `json:"serial"`
	First  UseSide `json:"first"`
	Second UseSide `json:"second"`
}

// UseSide is one use of a conflict.
type UseSide struct {
	Register string    `json:"register"`
	At       time.Time `json:"at"`
}

// UnmarshalJSON keeps the raw object beside the known fields.
func (r *SyncResult) UnmarshalJSON(b []byte) error {
	type plain SyncResult
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*r = SyncResult(p)
	r.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// Sync is POST /v1/sync (register): the till agent's queue, in order; each
// operation is applied exactly once.
func (c *Client) Sync(ctx context.Context, ops []SyncOperation) ([]SyncResult, error) {
	body := struct {
		Operations []SyncOperation `json:"operations"`
	}{ops}
	var out struct {
		Results []SyncResult `json:"results"`
	}
	err := c.call(ctx, request{method: "POST", path: "/v1/sync", body: body}, &out)
	return out.Results, err
}

// MerchantOfflinePolicy is a merchant's rules for all its offline tills.
type MerchantOfflinePolicy struct {
	Conflicts string      `json:"conflicts"` // "honour" or "refuse" single-use codes offline
	TillCaps  OfflineCaps `json:"till_caps"`
}

// OfflineCaps bound what one till may redeem offline between syncs; zero
// means no cap.
type OfflineCaps struct {
	Redemptions int   `json:"redemptions"`
	Value       int64 `json:"value"` // minor units
}

// MerchantOffline is GET /v1/merchants/{id}/offline (admin or auditor).
func (c *Client) MerchantOffline(ctx context.Context, merchant string) (MerchantOfflinePolicy, error) {
	var out MerchantOfflinePolicy
	err := c.call(ctx, request{method: "GET", path: "/v1/merchants/" + seg(merchant) + "/offline"}, &out)
	return out, err
}

// SetMerchantOffline is PUT /v1/merchants/{id}/offline (admin).
func (c *Client) SetMerchantOffline(ctx context.Context, merchant string, p MerchantOfflinePolicy) (MerchantOfflinePolicy, error) {
	var out MerchantOfflinePolicy
	err := c.call(ctx, request{method: "PUT", path: "/v1/merchants/" + seg(merchant) + "/offline", body: p}, &out)
	return out, err
}

// OfflineLoss is a use honoured offline that lost to an earlier one.
type OfflineLoss struct {
	Merchant   string    `json:"merchant"`
	Serial     string    `json:"serial"`
	Op         string    `json:"op"`
	First      UseSide   `json:"first"`
	Second     UseSide   `json:"second"`
	APIKey     string    `json:"api_key"` // the till whose use was lost
	RecordedAt time.Time `json:"recorded_at"`
}

// OfflineLosses is GET /v1/merchants/{id}/offline/losses (admin or
// auditor), at most limit (zero: the server's default).
func (c *Client) OfflineLosses(ctx context.Context, merchant string, limit int) ([]OfflineLoss, error) {
	q := url.Values{}
	setInt(q, "limit", limit)
	var out struct {
		Losses []OfflineLoss `json:"losses"`
	}
	err := c.call(ctx, request{method: "GET", path: "/v1/merchants/" + seg(merchant) + "/offline/losses", query: q}, &out)
	return out.Losses, err
}

// Settings are a merchant's settings.
type Settings struct {
	// VoidWindow: how long after a sale it may be voided; zero forbids
	// voids.
	VoidWindow Duration `json:"void_window"`
}

// Settings is GET /v1/merchants/{id}/settings (admin or auditor).
func (c *Client) Settings(ctx context.Context, merchant string) (Settings, error) {
	var out Settings
	err := c.call(ctx, request{method: "GET", path: "/v1/merchants/" + seg(merchant) + "/settings"}, &out)
	return out, err
}

// SetSettings is PUT /v1/merchants/{id}/settings (admin).
func (c *Client) SetSettings(ctx context.Context, merchant string, s Settings) (Settings, error) {
	var out Settings
	err := c.call(ctx, request{method: "PUT", path: "/v1/merchants/" + seg(merchant) + "/settings", body: s}, &out)
	return out, err
}
