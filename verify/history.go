package verify

import "time"

// Entry is one event in a credential's history.
type Entry struct {
	At       time.Time `json:"at"`
	Op       string    `json:"op"` // stamp, claim, redeem, reward
	Register string    `json:"register,omitempty"`
	Stamps   int       `json:"stamps,omitempty"`
	Source   string    `json:"source,omitempty"` // for stamps: "register" or "punch"
	Punch    string    `json:"punch,omitempty"`  // serial of the punch claimed
	Card     string    `json:"card,omitempty"`   // for a punch: the card it went onto
	Reward   string    `json:"reward,omitempty"` // serial of a reward coupon earned
}
