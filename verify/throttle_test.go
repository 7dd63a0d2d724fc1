package verify_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/internal/testledger"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/verify"
)

// slowed throttles one API key.
type slowed struct{ key string }

func (s slowed) Throttled(_, keyID string) (time.Duration, bool) {
	return 90 * time.Second, keyID == s.key
}

type seen struct {
	mu sync.Mutex
	n  int
}

func (s *seen) Observe(fraud.Event) { s.mu.Lock(); s.n++; s.mu.Unlock() }

// A throttled key's guesses (short codes, malformed codes) are refused
// with the wait before anything is decided or reported; its real codes are
// still served, and other keys are not slowed down.
func TestAThrottledKeysGuessesAreRefusedAndItsRealCodesServed(t *testing.T) {
	db, ring := testledger.Open(t, "bakery-1")
	events := &seen{}
	v, err := verify.New(db, ring, verify.WithThrottle(slowed{"k1"}), verify.WithObserver(events))
	if err != nil {
		t.Fatal(err)
	}
	coupons, err := issuer.New(db, ring).Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "tea", MaxUses: 5})
	if err != nil {
		t.Fatal(err)
	}
	req := func(key, code, short string) verify.Request {
		return verify.Request{Merchant: "bakery-1", APIKey: key, Code: code, ShortCode: short, Register: "till-1"}
	}
	var throttled *verify.ThrottledError
	for name, r := range map[string]verify.Request{"a short code": req("k1", "", "K7QF-3MZ9-W2XD"), "garbage": req("k1", "hello", "")} {
		if _, err := v.Redeem(r); !errors.As(err, &throttled) || throttled.Wait != 90*time.Second {
			t.Errorf("redeem of %s by the throttled key = %v; want a ThrottledError of 90s", name, err)
		}
		if _, err := v.Verify(r); !errors.As(err, &throttled) {
			t.Errorf("verify of %s by the throttled key = %v; want a ThrottledError", name, err)
		}
	}
	events.mu.Lock()
	if events.n != 0 {
		t.Errorf("%d events for throttled guesses; want none", events.n)
	}
	events.mu.Unlock()
	if _, err := v.Redeem(req("k1", coupons[0].Code, "")); err != nil {
		t.Errorf("a real coupon from the throttled key = %v; want it served", err)
	}
	// A scanner that ends every code with CR/LF is not guessing.
	if _, err := v.Redeem(req("k1", coupons[0].Code+"\r\n", "")); err != nil {
		t.Errorf("a real coupon with the scanner's CR/LF from the throttled key = %v; want it served", err)
	}
	if _, err := v.Verify(req("k2", "hello", "")); errors.As(err, &throttled) {
		t.Errorf("garbage from another key = %v; want it decided, not throttled", err)
	}
}
