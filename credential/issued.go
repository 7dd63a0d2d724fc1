package credential

import "time"

// Draft is a signed credential not yet recorded in the ledger.
type Draft struct {
	Serial    Serial
	Record    Record
	Code      string // the code in clear, handed out once and never stored
	ShortCode string
}

// Issued is a credential as handed to the issuer: its code and short code
// are shown to the customer, never logged.
type Issued struct {
	Serial    string    `json:"serial"`
	Code      string    `json:"code"`
	Kind      Kind      `json:"kind"`
	ShortCode string    `json:"short_code,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
}
