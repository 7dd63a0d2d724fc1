package verify

import "time"

// Entry is one event in a credential's history.
type Entry struct {
	At       time.Time `json:"at"`
	Op       string    `json:"op"` // stamp, claim, redeem, reward, reserve, release, void, revoked
	Register string    `json:"register,omitempty"`
	Stamps   int       `json:"stamps,omitempty"`
	Source   string    `json:"source,omitempty"` // for stamps: "register" or "punch"
	Punch    string    `json:"punch,omitempty"`  // serial of the punch claimed
	Card     string    `json:"card,omitempty"`   // for a punch: the card it went onto
	Reward   string    `json:"reward,omitempty"` // serial of a reward coupon earned

	// The register's day.
	ID          string    `json:"id,omitempty"`           // redemption_id, stamp_id or reservation_id of this event (not stored)
	Actor       string    `json:"actor_key_id,omitempty"` // API key that held, confirmed, released or voided
	Until       time.Time `json:"until,omitzero"`         // for a reserve: when the hold expires
	Reservation string    `json:"reservation,omitempty"`  // for a confirm or release: the reservation
	Voids       string    `json:"voids,omitempty"`        // for a void: the redemption or stamp voided
	Reason      string    `json:"reason,omitempty"`       // for a void or a revoked reward
}
