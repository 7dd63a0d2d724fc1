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
	l.mu.Lock()
	lim := l.keys[keyID]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(l.limit.PerSecond), l.limit.Burst)
		l.keys[keyID] = lim
	}
	l.mu.Unlock()
	return lim.AllowN(now, n)
}

// admitIssue spends n of the key's issuance budget, or answers 429 and
// tells the fraud module: an issuer key minting beyond its norm is a
// cashier printing punches for friends, or a stolen key.
func (a *API) admitIssue(r *http.Request, k access.Key, kind string, n int) error {
	if a.issueLimits.allow(k.ID, max(n, 1), a.Now()) {
		return nil
	}
	if a.Observer != nil {
		a.Observer.Observe(fraud.Event{Time: a.Now(), Op: fraud.OpIssue, Result: fraud.ReasonLimitExceeded, Merchant: k.Merchant,
			Kind: kind, APIKey: k.ID, Register: k.Name, Source: source(r)})
	}
	return &Error{Status: http.StatusTooManyRequests, Code: "rate_limited",
		Message: "this API key is issuing faster than its limit; slow down", Details: map[string]any{"retry_after_seconds": 1}}
}
