package verify_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

func (w *world) reserve(code, apiKey string, ttl time.Duration) (verify.Reservation, error) {
	return w.v.Reserve(verify.ReserveRequest{Request: verify.Request{Merchant: "bakery-1", Code: code, Register: "till-" + apiKey, APIKey: apiKey}, TTL: ttl})
}

func (w *world) hold(apiKey, id string) verify.HoldAction {
	return verify.HoldAction{Merchant: "bakery-1", APIKey: apiKey, Reservation: id}
}

func (w *world) stamp(code string, n int) verify.StampResult {
	w.t.Helper()
	res, err := w.v.Stamp(verify.StampRequest{Request: verify.Request{Merchant: "bakery-1", Code: code, Register: "till-1", APIKey: "k1"}, Stamps: n})
	if err != nil {
		w.t.Fatalf("stamp %d: %v", n, err)
	}
	return res
}

func (w *world) void(id string) verify.VoidRequest {
	return verify.VoidRequest{Merchant: "bakery-1", APIKey: "k1", Register: "till-1", ID: id, Reason: "customer changed their mind"}
}

func TestAHoldCountsAgainstUsesUntilItExpires(t *testing.T) {
	w := newWorld(t, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: 24 * time.Hour})
	h, err := w.reserve(c.Code, "k1", 0)
	if err != nil || h.UsesLeft != 0 || !h.ExpiresAt.Equal(w.now().Add(verify.DefaultHoldTTL)) || h.ReservationID == "" {
		t.Fatalf("reserve = %+v, %v; want a hold for the default ttl with no use left for others", h, err)
	}
	var reserved *verify.ReservedError
	if _, err := w.redeem(c.Code, "till-9", "sale-9"); !errors.As(err, &reserved) || !reserved.Until.Equal(h.ExpiresAt) || reserved.Register != "till-k1" {
		t.Errorf("redeem of a held coupon = %v; want ReservedError until %v by till-k1", err, h.ExpiresAt)
	}
	if _, err := w.reserve(c.Code, "k2", time.Minute); !errors.Is(err, verify.ErrReserved) {
		t.Errorf("second hold = %v; want ErrReserved", err)
	}
	if _, err := w.reserve(c.Code, "k2", 31*time.Minute); !errors.Is(err, verify.ErrInvalidRequest) {
		t.Errorf("hold for 31m = %v; want ErrInvalidRequest", err)
	}
	w.advance(verify.DefaultHoldTTL)
	// The hold is over by itself: nothing swept it.
	r, err := w.redeem(c.Code, "till-9", "sale-10")
	if err != nil || r.RedemptionID == "" {
		t.Fatalf("redeem after the hold expired = %+v, %v", r, err)
	}
	if _, err := w.v.Confirm(w.hold("k1", h.ReservationID)); !errors.Is(err, verify.ErrReservationExpired) {
		t.Errorf("confirm of an expired hold = %v; want ErrReservationExpired", err)
	}
	if _, err := w.v.Release(w.hold("k1", h.ReservationID)); !errors.Is(err, verify.ErrReservationExpired) {
		t.Errorf("release of an expired hold = %v; want ErrReservationExpired", err)
	}
}

func TestConfirmAndReleaseEndAHoldOnce(t *testing.T) {
	w := newWorld(t, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: 24 * time.Hour, MaxUses: 2})
	h, err := w.reserve(c.Code, "k1", time.Minute)
	if err != nil || h.UsesLeft != 1 {
		t.Fatalf("reserve = %+v, %v; want one use left for others", h, err)
	}
	if _, err := w.v.Confirm(w.hold("k2", h.ReservationID)); !errors.Is(err, verify.ErrNotHolder) {
		t.Errorf("confirm by another key = %v; want ErrNotHolder", err)
	}
	if _, err := w.v.Release(w.hold("k2", h.ReservationID)); !errors.Is(err, verify.ErrNotHolder) {
		t.Errorf("release by another register key = %v; want ErrNotHolder", err)
	}
	first, err := w.v.Confirm(w.hold("k1", h.ReservationID))
	if err != nil || !first.Redeemed || first.UsesLeft != 1 || first.RedemptionID == "" || first.Register != "till-k1" {
		t.Fatalf("confirm = %+v, %v", first, err)
	}
	w.advance(time.Hour) // a confirmed hold does not expire
	if again, err := w.v.Confirm(w.hold("k1", h.ReservationID)); err != nil || again != first {
		t.Errorf("second confirm = %+v, %v; want the first answer %+v", again, err, first)
	}
	if _, err := w.v.Release(w.hold("k1", h.ReservationID)); !errors.Is(err, verify.ErrReservationConfirmed) {
		t.Errorf("release after confirm = %v; want ErrReservationConfirmed", err)
	}
	h2, err := w.reserve(c.Code, "k1", time.Minute)
	if err != nil || h2.UsesLeft != 0 {
		t.Fatalf("hold of the last use = %+v, %v", h2, err)
	}
	admin := w.hold("k-admin", h2.ReservationID)
	admin.Admin = true
	rel, err := w.v.Release(admin)
	if err != nil || !rel.Released {
		t.Fatalf("admin release = %+v, %v", rel, err)
	}
	if again, err := w.v.Release(w.hold("k1", h2.ReservationID)); err != nil || again != rel {
		t.Errorf("second release = %+v, %v; want %+v", again, err, rel)
	}
	if _, err := w.v.Confirm(w.hold("k1", h2.ReservationID)); !errors.Is(err, verify.ErrReservationReleased) {
		t.Errorf("confirm after release = %v; want ErrReservationReleased", err)
	}
	if _, err := w.v.Confirm(w.hold("k1", "nonsense")); !errors.Is(err, verify.ErrNotFound) {
		t.Errorf("confirm of an unknown id = %v; want ErrNotFound", err)
	}
	if r, err := w.redeem(c.Code, "till-2", ""); err != nil || r.UsesLeft != 0 {
		t.Errorf("redeem of the released use = %+v, %v", r, err)
	}
}

func TestHoldsOutliveARestart(t *testing.T) {
	w := newWorld(t, "bakery-1")
	short := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: 24 * time.Hour})
	long := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: 24 * time.Hour})
	if _, err := w.reserve(short.Code, "k1", time.Minute); err != nil {
		t.Fatal(err)
	}
	hl, err := w.reserve(long.Code, "k1", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	w.advance(2 * time.Minute)
	w.reopen()
	if _, err := w.redeem(short.Code, "till-2", ""); err != nil {
		t.Errorf("redeem of a coupon whose hold expired before the restart = %v", err)
	}
	if _, err := w.redeem(long.Code, "till-2", ""); !errors.Is(err, verify.ErrReserved) {
		t.Errorf("redeem of a coupon still held across the restart = %v; want ErrReserved", err)
	}
	if _, err := w.v.Confirm(w.hold("k1", hl.ReservationID)); err != nil {
		t.Errorf("confirm after the restart = %v", err)
	}
}

func TestVoidGivesTheUseBackOnceWithinTheWindow(t *testing.T) {
	w := newWorld(t, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: 72 * time.Hour})
	r, err := w.redeem(c.Code, "till-1", "sale-1")
	if err != nil {
		t.Fatal(err)
	}
	v1, err := w.v.VoidRedemption(w.void(r.RedemptionID))
	if err != nil || !v1.Voided || v1.UsesLeft != 1 || v1.Serial != c.Serial {
		t.Fatalf("void = %+v, %v", v1, err)
	}
	w.advance(time.Minute)
	if v2, err := w.v.VoidRedemption(w.void(r.RedemptionID)); err != nil || v2 != v1 {
		t.Errorf("second void = %+v, %v; want the first answer %+v", v2, err, v1)
	}
	r2, err := w.redeem(c.Code, "till-1", "sale-2")
	if err != nil || r2.UsesLeft != 0 {
		t.Fatalf("redeem after the void = %+v, %v", r2, err)
	}
	if _, err := w.v.VoidStamp(w.void(r2.RedemptionID)); !errors.Is(err, verify.ErrNotFound) {
		t.Errorf("a redemption voided as a stamp = %v; want ErrNotFound", err)
	}
	other := w.void(r2.RedemptionID)
	other.Merchant = "bakery-2"
	if _, err := w.v.VoidRedemption(other); !errors.Is(err, verify.ErrNotFound) {
		t.Errorf("void by another merchant = %v; want ErrNotFound", err)
	}
	w.advance(25 * time.Hour)
	if _, err := w.v.VoidRedemption(w.void(r2.RedemptionID)); !errors.Is(err, verify.ErrVoidWindowPassed) {
		t.Errorf("void after 25h = %v; want ErrVoidWindowPassed", err)
	}
	if err := w.v.SetSettings(audit.Operator, "bakery-1", verify.Settings{VoidWindow: 48 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if v3, err := w.v.VoidRedemption(w.void(r2.RedemptionID)); err != nil || v3.UsesLeft != 1 {
		t.Errorf("void after 25h with a 48h window = %+v, %v", v3, err)
	}
	st, err := w.v.Status("bakery-1", c.Serial)
	if err != nil || st.UsesLeft != 1 || st.Status != verify.StatusActive {
		t.Fatalf("status = %+v, %v", st, err)
	}
	var ops []string
	for _, e := range st.History {
		ops = append(ops, e.Op)
	}
	if got, want := asJSON(t, ops), `["redeem","void","redeem","void"]`; got != want {
		t.Errorf("history ops = %s; want %s", got, want)
	}
	if st.History[0].ID != r.RedemptionID || st.History[1].Voids != r.RedemptionID || st.History[1].Reason == "" {
		t.Errorf("history = %+v; want the redemption's id and the void naming it with its reason", st.History)
	}
}

func TestVoidedStampsTakeBackAnUnusedRewardAndKeepARedeemedOne(t *testing.T) {
	w := newWorld(t, "bakery-1")
	if _, err := w.iss.CreateProgram(credential.Program{Merchant: "bakery-1", ID: "coffee", StampsRequired: 10,
		Reward: "free coffee", RewardValidFor: 720 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	card := mustCard(t, w)
	w.stamp(card.Code, 9)
	filled := w.stamp(card.Code, 1)
	if len(filled.Rewards) != 1 || filled.StampID == "" {
		t.Fatalf("tenth stamp = %+v", filled)
	}
	reward := filled.Rewards[0]
	if _, err := w.redeem(reward.Code, "till-1", ""); err != nil {
		t.Fatal(err)
	}
	kept, err := w.v.VoidStamp(w.void(filled.StampID))
	if err != nil || !kept.RewardKept || kept.Stamps != 0 || kept.StampsTotal != 9 || len(kept.RewardsRevoked) != 0 {
		t.Fatalf("void of the stamp that filled a card whose reward was redeemed = %+v, %v; want reward kept, 0 stamps", kept, err)
	}
	if again, err := w.v.VoidStamp(w.void(filled.StampID)); err != nil || asJSON(t, again) != asJSON(t, kept) {
		t.Errorf("second void = %+v, %v; want %+v", again, err, kept)
	}

	card2 := mustCard(t, w)
	w.stamp(card2.Code, 8)
	over := w.stamp(card2.Code, 3) // fills the card, one over
	took, err := w.v.VoidStamp(w.void(over.StampID))
	if err != nil || took.RewardKept || took.Stamps != 8 || len(took.RewardsRevoked) != 1 || took.RewardsRevoked[0] != over.Rewards[0].Serial {
		t.Fatalf("void of the stamps that filled a card with an unused reward = %+v, %v; want the reward revoked, 8 stamps", took, err)
	}
	if _, err := w.redeem(over.Rewards[0].Code, "till-1", ""); !errors.Is(err, verify.ErrRewardRevoked) {
		t.Errorf("redeem of a revoked reward = %v; want ErrRewardRevoked", err)
	}
	st, err := w.v.Status("bakery-1", card2.Serial)
	if err != nil || *st.Stamps != 8 || len(st.Rewards) != 1 || !st.Rewards[0].Revoked {
		t.Errorf("card status = %+v, %v", st, err)
	}
	rs, err := w.v.Status("bakery-1", over.Rewards[0].Serial)
	if err != nil || rs.Status != verify.StatusRevoked {
		t.Errorf("reward status = %+v, %v; want revoked", rs, err)
	}
}

func TestVoidsAndHoldsAreJournaled(t *testing.T) {
	w := newWorld(t, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: 24 * time.Hour})
	h, _ := w.reserve(c.Code, "k1", time.Minute)
	r, err := w.v.Confirm(w.hold("k1", h.ReservationID))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.v.VoidRedemption(w.void(r.RedemptionID)); err != nil {
		t.Fatal(err)
	}
	// The journal is the only record: a new verifier over the same file
	// knows the void.
	w.reopen()
	if v, err := w.v.VoidRedemption(w.void(r.RedemptionID)); err != nil || v.UsesLeft != 1 {
		t.Errorf("void after reopen = %+v, %v; want the first answer", v, err)
	}
	n := 0
	w.db.View(func(tx storage.Tx) error {
		return tx.Scan(storage.History, nil, func(k, v []byte) error { n++; return nil })
	})
	if n != 3 { // reserve, redeem (confirm), void
		t.Errorf("journal holds %d events; want 3", n)
	}
}

// BenchmarkHoldAndConfirmParallel: 64 callers each hold a distinct coupon
// and confirm the hold, two durable group-committed transactions per sale,
// signature verification included.
func BenchmarkHoldAndConfirmParallel(b *testing.B) {
	w := newWorld(b, "bakery-1")
	codes := mintCodes(b, w, b.N)
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h, err := w.reserve(<-codes, "k1", 0)
			if err == nil {
				_, err = w.v.Confirm(w.hold("k1", h.ReservationID))
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sales/s")
}

func TestVoidedStampsNoLongerCountAgainstTheLimits(t *testing.T) {
	w := newWorld(t, "bakery-1")
	if _, err := w.iss.CreateProgram(credential.Program{Merchant: "bakery-1", ID: "coffee", StampsRequired: 10,
		Reward: "free coffee", RewardValidFor: 720 * time.Hour, Limits: credential.Limits{PerDay: 3}}); err != nil {
		t.Fatal(err)
	}
	card := mustCard(t, w)
	w.stamp(card.Code, 1)
	third := w.stamp(card.Code, 2)
	req := verify.StampRequest{Request: verify.Request{Merchant: "bakery-1", Code: card.Code, Register: "till-1"}, Stamps: 1}
	if _, err := w.v.Stamp(req); !errors.Is(err, verify.ErrLimitExceeded) {
		t.Fatalf("a fourth stamp in a day = %v; want ErrLimitExceeded", err)
	}
	if _, err := w.v.VoidStamp(w.void(third.StampID)); err != nil {
		t.Fatal(err)
	}
	if got := w.stamp(card.Code, 2); got.Stamps != 3 {
		t.Errorf("stamps after the void and two more = %d; want 3", got.Stamps)
	}
}
