package issuer_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/issuer"
)

// events records what the issuer tells the fraud module.
type events struct {
	mu   sync.Mutex
	list []fraud.Event
}

func (e *events) Observe(ev fraud.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, ev)
}

func (e *events) results() map[fraud.Reason]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[fraud.Reason]int{}
	for _, ev := range e.list {
		out[ev.Result]++
	}
	return out
}

// An API key mints within its budget; beyond it the issuer refuses with
// ErrRateLimited and flags the key to the fraud module, whichever way the
// request came in. The operator, who holds the database, is not limited.
func TestAKeyMintingBeyondItsLimitIsRefusedAndFlagged(t *testing.T) {
	const m = "corner-bakery-elm-street"
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	seen := &events{}
	iss, _ := newIssuer(t, issuer.WithLimits(issuer.Limit{PerSecond: 1, Burst: 3}, issuer.Limit{}),
		issuer.WithObserver(seen), issuer.WithClock(func() time.Time { return now }))
	pos := audit.Actor{KeyID: "key_pos", Name: "pos", Role: "issuer", Source: "192.0.2.7"}
	got, err := iss.CouponsAs(pos, issuer.CouponRequest{Merchant: m, Offer: "tea", Count: 3})
	if err != nil || len(got) != 3 {
		t.Fatalf("3 coupons within the budget: %d, %v", len(got), err)
	}
	if _, err := iss.CouponsAs(pos, issuer.CouponRequest{Merchant: m, Offer: "tea", Count: 1}); !errors.Is(err, issuer.ErrRateLimited) {
		t.Errorf("a fourth coupon at once = %v; want ErrRateLimited", err)
	}
	if _, err := iss.Coupons(issuer.CouponRequest{Merchant: m, Offer: "tea", Count: 50}); err != nil {
		t.Errorf("the operator's batch = %v; want no limit", err)
	}
	if r := seen.results(); r[fraud.ResultOK] != 53 || r[fraud.ReasonLimitExceeded] != 1 {
		t.Errorf("events = %v; want 53 issued and 1 flood", r)
	}
	seen.mu.Lock()
	flood := seen.list[3]
	seen.mu.Unlock()
	if flood.APIKey != "key_pos" || flood.Register != "pos" || flood.Source != "192.0.2.7" || flood.Merchant != m || flood.Op != fraud.OpIssue {
		t.Errorf("flood event = %+v; want the key, its name, its address and the merchant", flood)
	}
}

// A register key's reward budget: admitted while it has one reward left,
// flagged when a stamp overdraws it, refused until it refills.
func TestAKeyEarningRewardsBeyondItsLimitIsRefused(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	seen := &events{}
	iss, _ := newIssuer(t, issuer.WithLimits(issuer.Limit{}, issuer.Limit{PerSecond: 1, Burst: 2}),
		issuer.WithObserver(seen), issuer.WithClock(func() time.Time { return now }))
	till := audit.Actor{KeyID: "key_till", Name: "till 3", Role: "register"}
	if err := iss.AdmitRewards(till, "bakery-1"); err != nil {
		t.Fatalf("a fresh key = %v", err)
	}
	iss.SpendRewards(till, "bakery-1", 3) // one stamp filled three cards
	if err := iss.AdmitRewards(till, "bakery-1"); !errors.Is(err, issuer.ErrRewardsLimited) {
		t.Errorf("after overdrawing = %v; want ErrRewardsLimited", err)
	}
	if r := seen.results(); r[fraud.ReasonLimitExceeded] != 2 {
		t.Errorf("events = %v; want the overdraw and the refusal flagged", r)
	}
	now = now.Add(2 * time.Second)
	if err := iss.AdmitRewards(till, "bakery-1"); err != nil {
		t.Errorf("after the budget refilled = %v", err)
	}
}
