package credential

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Program is a merchant's stamp-card program: what fills a card and what a
// full card earns.
type Program struct {
	Merchant       string        `json:"merchant"`
	ID             string        `json:"id"`
	StampsRequired int           `json:"stamps_required"`
	Reward         string        `json:"reward"`
	RewardValidFor time.Duration `json:"reward_valid_for"`
	Limits         Limits        `json:"limits"`
	CreatedAt      time.Time     `json:"created_at"`
	Value          *Value        `json:"value,omitempty"` // of the reward, when the owner set one
}

// Limits caps the stamps one card may receive; 0 means no limit of the
// program's own, under CeilingPerDay.
type Limits struct {
	PerRequest int `json:"per_request"`
	PerHour    int `json:"per_hour"`
	PerDay     int `json:"per_day"`
}

// CeilingPerDay caps the stamps one card may receive in a day whatever a
// program's limits say, 0 ("no limit") included: every stamp can mint a
// reward, so a program without any ceiling would let one till mint
// rewards without end.
const CeilingPerDay = 1000

// DefaultLimits fit a coffee shop: nobody buys more than five coffees at
// once, ten in an hour or twenty in a day.
var DefaultLimits = Limits{PerRequest: 5, PerHour: 10, PerDay: 20}

// The bounds and defaults of stamps, kept here so that every way in (HTTP,
// the command line, a till agent) agrees.
const (
	// MaxStampsRequired is the most stamps a program's card may need.
	MaxStampsRequired = 1000
	// MaxStampsAtOnce is the most stamps one purchase, or one punch
	// token, adds to a card; 0 asks for one.
	MaxStampsAtOnce = 100
	// DefaultRewardValidFor is how long a reward coupon stays valid when
	// its program does not say.
	DefaultRewardValidFor = 30 * 24 * time.Hour
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ValidID checks a merchant or program id: letters, digits, '.', '_' and
// '-', starting with a letter or digit, at most MaxMerchantLen long.
func ValidID(id string) error {
	if len(id) == 0 || len(id) > MaxMerchantLen || !idPattern.MatchString(id) {
		return fmt.Errorf("id must be 1 to %d characters of letters, digits, '.', '_', '-'", MaxMerchantLen)
	}
	return nil
}

// Validate checks a program before it is stored.
func (p *Program) Validate() error {
	if err := ValidID(p.Merchant); err != nil {
		return fmt.Errorf("merchant: %w", err)
	}
	if err := ValidID(p.ID); err != nil {
		return fmt.Errorf("program: %w", err)
	}
	switch {
	case p.StampsRequired < 1 || p.StampsRequired > MaxStampsRequired:
		return fmt.Errorf("stamps_required must be 1 to %d", MaxStampsRequired)
	case p.Reward == "" || len(p.Reward) > 200:
		return errors.New("reward must be 1 to 200 characters")
	case p.RewardValidFor < time.Hour || p.RewardValidFor > 5*366*24*time.Hour:
		return errors.New("reward_valid_for must be between 1h and 5 years")
	case p.Limits.PerRequest < 0 || p.Limits.PerHour < 0 || p.Limits.PerDay < 0:
		return errors.New("limits must not be negative")
	}
	if p.Value != nil {
		return p.Value.Validate()
	}
	return nil
}

// ProgramKey is the storage key of a program.
func ProgramKey(merchant, id string) []byte { return []byte(merchant + "/" + id) }
