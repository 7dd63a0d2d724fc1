package api

import (
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/fraud"
)

// IssueLimit is how fast one API key may mint credentials: a token bucket
// per key. The default lets a point of sale print a campaign of 1,000
// coupons at once and then 10 credentials a second, far beyond a till's
// norm and far below a leaked key's flood.
type IssueLimit struct {
	PerSecond float64
	Burst     int
}

// DefaultIssueLimit is the issuance limit when Deps leaves it zero.
var DefaultIssueLimit = IssueLimit{PerSecond: 10, Burst: 2000}

// issueLimiter holds one token bucket per API key.
type issueLimiter struct {
	limit IssueLimit
	mu    sync.Mutex
	keys  map[string]*rate.Limiter
}

func (l *issueLimiter) allow(keyID string, n int, now time.Time) bool {
	return l.limiter(keyID).AllowN(now, n)
}

// admitIssue spends n of the key's issuance budget, or answers 429 and
// tells the fraud module: an issuer key minting beyond its norm is a
// cashier printing punches for friends, or a stolen key.
func (a *API) admitIssue(r *http.Request, k access.Key, kind string, n int) error {
	if a.issueLimits.allow(k.ID, max(n, 1), a.Now()) {
		return nil
	}
	a.flagIssueFlood(r, k, kind)
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "this API key is issuing faster than its limit; slow down", Details: map[string]any{"retry_after_seconds": 1}}
}

// DefaultRewardLimit is how fast one register key may earn reward
// coupons: every reward is a credential it caused to be minted, so rewards
// count against the key's own issuance budget. A till that fills 100
// cards at once, or more than one a second for long, is not serving
// customers.
var DefaultRewardLimit = IssueLimit{PerSecond: 1, Burst: 100}

// admitStamp refuses a stamp or claim from a key whose reward budget is
// spent: the stamp could fill a card and mint another reward.
func (a *API) admitStamp(r *http.Request, k access.Key) error {
	if a.rewardLimits.left(k.ID, a.Now()) >= 1 {
		return nil
	}
	a.flagIssueFlood(r, k, "coupon")
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "this API key has earned rewards faster than its limit; slow down", Details: map[string]any{"retry_after_seconds": 1}}
}

// spendRewards charges n rewards a stamp minted to the key's budget; a
// key that overdraws it is flagged to the fraud module as an insider.
func (a *API) spendRewards(r *http.Request, k access.Key, n int) {
	if n > 0 && !a.rewardLimits.allow(k.ID, n, a.Now()) {
		a.rewardLimits.drain(k.ID, a.Now())
		a.flagIssueFlood(r, k, "coupon")
	}
}

// flagIssueFlood tells the fraud module that k minted beyond its norm.
func (a *API) flagIssueFlood(r *http.Request, k access.Key, kind string) {
	if a.Observer != nil {
		a.Observer.Observe(fraud.Event{Time: a.Now(), Op: fraud.OpIssue, Result: fraud.ReasonLimitExceeded, Merchant: k.Merchant,
			Kind: kind, APIKey: k.ID, Register: k.Name, Source: source(r)})
	}
}

func (l *issueLimiter) limiter(keyID string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.keys[keyID]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(l.limit.PerSecond), l.limit.Burst)
		l.keys[keyID] = lim
	}
	return lim
}

// left is the budget the key has now.
func (l *issueLimiter) left(keyID string, now time.Time) float64 {
	return l.limiter(keyID).TokensAt(now)
}

// drain empties the key's budget: it overdrew it.
func (l *issueLimiter) drain(keyID string, now time.Time) {
	lim := l.limiter(keyID)
	lim.AllowN(now, int(lim.TokensAt(now)))
}
