package credential

import (
	"errors"
	"fmt"
	"regexp"
)

// MaxAmount bounds a value: ten million in major units of any currency
// with two decimals, far above any loyalty reward, far below overflow when
// a million of them are summed.
const MaxAmount = 1_000_000_000

// Value is what a coupon or a program's reward is worth, in minor units
// (cents) of an ISO 4217 currency: {"amount": 350, "currency": "EUR"}.
type Value struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// ErrInvalidValue is wrapped by Validate's errors.
var ErrInvalidValue = errors.New("invalid value")

// Validate checks that the currency is three upper-case letters (the shape
// of an ISO 4217 code) and the amount is 0 to MaxAmount.
func (v Value) Validate() error {
	switch {
	case !currencyPattern.MatchString(v.Currency):
		return fmt.Errorf("%w: currency must be an ISO 4217 code of three upper-case letters", ErrInvalidValue)
	case v.Amount < 0 || v.Amount > MaxAmount:
		return fmt.Errorf("%w: amount must be 0 to %d minor units", ErrInvalidValue, MaxAmount)
	}
	return nil
}
