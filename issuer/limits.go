package issuer

import (
	"errors"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/internal/keyed"
)

// Limit is how fast one API key may mint: a token bucket per key.
type Limit = keyed.Limit

// DefaultLimit lets a point of sale print a campaign of 1,000 coupons at
// once and then 10 credentials a second, far beyond a till's norm and far
// below a leaked key's flood.
var DefaultLimit = Limit{PerSecond: 10, Burst: 2000}

// DefaultRewardLimit is how fast one register key may earn reward
// coupons: every reward is a credential it caused to be minted. A till
// that fills 100 cards at once, or more than one a second for long, is not
// serving customers.
var DefaultRewardLimit = Limit{PerSecond: 1, Burst: 100}

// Refusals of a key minting beyond its limit.
var (
	ErrRateLimited    = errors.New("this API key is issuing faster than its limit; slow down")
	ErrRewardsLimited = errors.New("this API key has earned rewards faster than its limit; slow down")
)

// Observer is told of every credential minted and of every key that
// mints beyond its limit; fraud.Monitor is one.
type Observer interface {
	Observe(fraud.Event)
}

// WithLimits bounds how fast one API key mints (issue) and earns rewards
// (rewards); a zero Limit is the default. The operator, who holds the
// database file, is not limited. Without this option nobody is.
func WithLimits(issue, rewards Limit) Option {
	return func(i *Issuer) {
		i.issueLimits = keyed.New(issue.Or(DefaultLimit))
		i.rewardLimits = keyed.New(rewards.Or(DefaultRewardLimit))
	}
}

// WithObserver tells o of every credential minted and of every key that
// mints beyond its limit: an issuer key minting far beyond its norm is a
// cashier printing punches for friends, or a stolen key.
func WithObserver(o Observer) Option { return func(i *Issuer) { i.observer = o } }

// limited reports whether by's minting counts against a limit.
func (i *Issuer) limited(by audit.Actor) bool {
	return i.issueLimits != nil && by.KeyID != ""
}

// admit spends n credentials of by's budget, or refuses with
// ErrRateLimited and tells the observer.
func (i *Issuer) admit(by audit.Actor, merchant string, kind credential.Kind, n int) error {
	if !i.limited(by) || i.issueLimits.Allow(by.KeyID, max(n, 1), i.now()) {
		return nil
	}
	i.flood(by, merchant, kind)
	return ErrRateLimited
}

// AdmitRewards refuses, with ErrRewardsLimited, a stamp or claim from a
// key whose reward budget is spent: the stamp could fill a card and mint
// another reward.
func (i *Issuer) AdmitRewards(by audit.Actor, merchant string) error {
	if !i.limited(by) || i.rewardLimits.Left(by.KeyID, i.now()) >= 1 {
		return nil
	}
	i.flood(by, merchant, credential.KindCoupon)
	return ErrRewardsLimited
}

// SpendRewards charges n rewards a stamp minted to by's budget; a key that
// overdraws it is flagged to the observer.
func (i *Issuer) SpendRewards(by audit.Actor, merchant string, n int) {
	if n > 0 && i.limited(by) && !i.rewardLimits.Allow(by.KeyID, n, i.now()) {
		i.rewardLimits.Drain(by.KeyID, i.now())
		i.flood(by, merchant, credential.KindCoupon)
	}
}

// flood tells the observer that by minted beyond its norm.
func (i *Issuer) flood(by audit.Actor, merchant string, kind credential.Kind) {
	if i.observer != nil {
		i.observer.Observe(fraud.Event{Time: i.now(), Op: fraud.OpIssue, Result: fraud.ReasonLimitExceeded, Merchant: merchant,
			Kind: kind.String(), APIKey: by.KeyID, Register: by.Name, Source: by.Source})
	}
}

// minted tells the observer of credentials by minted.
func (i *Issuer) minted(by audit.Actor, merchant string, list ...credential.Issued) {
	if i.observer == nil {
		return
	}
	now := i.now()
	for _, c := range list {
		i.observer.Observe(fraud.Event{Time: now, Op: fraud.OpIssue, Result: fraud.ResultOK, Merchant: merchant,
			CodeMerchant: merchant, Kind: c.Kind.String(), Serial: c.Serial, APIKey: by.KeyID, Register: by.Name, Source: by.Source})
	}
}
