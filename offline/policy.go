// Package offline is the server's side of offline tills: the offline
// policies of programs, coupon batches and merchants, the snapshot a till
// agent keeps to decide without the server, and the sync that brings the
// agent's queued operations into the ledger exactly once, catching codes
// that were used twice while a till was offline.
package offline

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stampseal/stampseal/storage"
)

// ErrInvalid marks a policy or operation that is wrong in itself.
var ErrInvalid = errors.New("invalid offline request")

// DefaultMaxOffline is how long a till may decide alone when a policy does
// not say: a day, as offline certificate verifiers use.
const DefaultMaxOffline = 24 * time.Hour

// MaxMaxOffline bounds max_offline: a week of unchecked selling is as far
// as any shop should go.
const MaxMaxOffline = 7 * 24 * time.Hour

// Policy is what a program (its stamps, claims) or a coupon batch allows a
// till that cannot reach the server.
type Policy struct {
	Allowed    bool
	MaxOffline time.Duration
}

// DefaultPolicy applies where nothing was set: offline allowed for a day.
var DefaultPolicy = Policy{Allowed: true, MaxOffline: DefaultMaxOffline}

type policyJSON struct {
	Allowed    *bool  `json:"allowed"`
	MaxOffline string `json:"max_offline,omitempty"`
}

// MarshalJSON writes {"allowed": true, "max_offline": "24h0m0s"}.
func (p Policy) MarshalJSON() ([]byte, error) {
	return json.Marshal(policyJSON{Allowed: &p.Allowed, MaxOffline: p.MaxOffline.String()})
}

// UnmarshalJSON reads a policy; a missing allowed means true, a missing
// max_offline DefaultMaxOffline.
func (p *Policy) UnmarshalJSON(b []byte) error {
	var raw policyJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("%w: offline policy: %v", ErrInvalid, err)
	}
	*p = DefaultPolicy
	if raw.Allowed != nil {
		p.Allowed = *raw.Allowed
	}
	if raw.MaxOffline != "" {
		d, err := time.ParseDuration(raw.MaxOffline)
		if err != nil {
			return fmt.Errorf("%w: max_offline must be a duration like \"24h\"", ErrInvalid)
		}
		p.MaxOffline = d
	}
	return p.Validate()
}

// Validate checks the bounds of max_offline.
func (p Policy) Validate() error {
	if p.MaxOffline <= 0 || p.MaxOffline > MaxMaxOffline {
		return fmt.Errorf("%w: max_offline must be more than 0 and at most %s", ErrInvalid, MaxMaxOffline)
	}
	return nil
}

// Conflict policies of a merchant: what its tills do with single-use codes
// (coupons, punches) while offline.
const (
	// Honour: the till honours the code and the server records the loss if
	// another till used it first; the customer is not embarrassed.
	Honour = "honour"
	// Refuse: tills refuse single-use codes while offline; stamps go on.
	Refuse = "refuse"
)

// Caps bound what one till may redeem offline before it syncs again, as
// card terminals' offline floor limits do. Zero means no cap.
type Caps struct {
	Redemptions int   `json:"redemptions"` // coupons and punches used offline
	Value       int64 `json:"value"`       // sum of the coupons' values, in minor units (of the merchant's one currency)
}

// MerchantPolicy is a merchant's rules for all its offline tills.
type MerchantPolicy struct {
	Conflicts string `json:"conflicts"`
	TillCaps  Caps   `json:"till_caps"`
}

// DefaultMerchantPolicy honours offline codes and caps each till at 500
// offline redemptions, the record count payment terminals use.
var DefaultMerchantPolicy = MerchantPolicy{Conflicts: Honour, TillCaps: Caps{Redemptions: 500}}

// Validate checks a merchant policy.
func (m MerchantPolicy) Validate() error {
	switch {
	case m.Conflicts != Honour && m.Conflicts != Refuse:
		return fmt.Errorf("%w: conflicts must be %q or %q", ErrInvalid, Honour, Refuse)
	case m.TillCaps.Redemptions < 0 || m.TillCaps.Value < 0:
		return fmt.Errorf("%w: till caps must not be negative", ErrInvalid)
	}
	return nil
}

// Batch is a set of coupons minted together, with their offline policy.
type Batch struct {
	ID       string   `json:"id"`
	Policy   Policy   `json:"policy"`
	Value    int64    `json:"value,omitempty"`    // of each coupon, minor units
	Currency string   `json:"currency,omitempty"` // of Value
	Serials  []string `json:"serials"`
}

// Storage keys in storage.Offline.
func merchantKey(merchant string) []byte         { return []byte("m/" + merchant) }
func programKey(merchant, program string) []byte { return []byte("p/" + merchant + "/" + program) }
func batchPrefix(merchant string) []byte         { return []byte("b/" + merchant + "/") }
func programPrefix(merchant string) []byte       { return []byte("p/" + merchant + "/") }

// Policies keeps offline policies in the ledger.
type Policies struct {
	store storage.Backend
}

// NewPolicies returns the policies kept in store.
func NewPolicies(store storage.Backend) *Policies { return &Policies{store: store} }

// SetProgram sets the offline policy of a program's stamps and claims.
func (ps *Policies) SetProgram(merchant, program string, p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	return ps.store.Update(func(tx storage.Tx) error {
		return storage.PutJSON(tx, storage.Offline, programKey(merchant, program), p)
	})
}

// AddBatch records the offline policy of a batch of coupons. It runs in
// the caller's transaction, so that a batch and its policy are one write.
func AddBatch(tx storage.Tx, merchant string, b Batch) error {
	if err := b.Policy.Validate(); err != nil {
		return err
	}
	return storage.PutJSON(tx, storage.Offline, append(batchPrefix(merchant), b.ID...), b)
}

// AddBatch records the offline policy of a batch of coupons already issued.
func (ps *Policies) AddBatch(merchant string, b Batch) error {
	return ps.store.Update(func(tx storage.Tx) error { return AddBatch(tx, merchant, b) })
}

// SetMerchant sets a merchant's conflict policy and till caps.
func (ps *Policies) SetMerchant(merchant string, m MerchantPolicy) error {
	if err := m.Validate(); err != nil {
		return err
	}
	return ps.store.Update(func(tx storage.Tx) error {
		return storage.PutJSON(tx, storage.Offline, merchantKey(merchant), m)
	})
}

// Merchant returns a merchant's policy, or the default.
func (ps *Policies) Merchant(merchant string) (MerchantPolicy, error) {
	var m MerchantPolicy
	err := ps.store.View(func(tx storage.Tx) error {
		var err error
		m, err = readMerchant(tx, merchant)
		return err
	})
	return m, err
}

func readMerchant(tx storage.Tx, merchant string) (MerchantPolicy, error) {
	m := DefaultMerchantPolicy
	if err := storage.GetJSON(tx, storage.Offline, merchantKey(merchant), &m); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return m, err
	}
	return m, nil
}
