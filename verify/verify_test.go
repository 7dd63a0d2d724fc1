package verify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/internal/sharedtest"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

// world is a real ledger: a bbolt file, a Tink key ring, an issuer and a
// verifier sharing one clock.
type world struct {
	t      testing.TB
	path   string
	db     *storage.Bolt
	store  storage.Backend // db, or db shared (sharedLedger): what the world's stack writes through
	ring   *keys.Ring
	master string
	iss    *issuer.Issuer
	v      *verify.Verifier
	clock  atomic.Pointer[time.Time]
}

func newWorld(t testing.TB, merchants ...string) *world {
	t.Helper()
	w := &world{t: t, path: filepath.Join(t.TempDir(), "stampseal.db")}
	w.master, _ = keys.NewMasterKeyText()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	w.clock.Store(&now)
	w.open()
	for _, m := range merchants {
		if err := w.ring.Create(m); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *world) now() time.Time          { return *w.clock.Load() }
func (w *world) advance(d time.Duration) { n := w.now().Add(d); w.clock.Store(&n) }

func (w *world) open() {
	db, err := storage.OpenBolt(w.path)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { db.Close() })
	aead, _ := keys.ParseMasterKey(w.master)
	var store storage.Backend = db
	if sharedLedger {
		store = sharedtest.Wrap(db)
	}
	w.db, w.store, w.ring = db, store, keys.NewRing(store, aead)
	w.iss = issuer.New(store, w.ring, issuer.WithClock(w.now))
	if w.v, err = verify.New(store, w.ring, verify.WithClock(w.now), verify.WithRewards(w.iss)); err != nil {
		w.t.Fatal(err)
	}
	if sharedLedger {
		// As a fleet node does (internal/service): keysets and the
		// blocklist cached, kept in step by the store's watch. Without
		// it every signature check would read and rebuild the keyset.
		ctx, cancel := context.WithCancel(context.Background())
		w.t.Cleanup(cancel)
		if err := w.ring.Follow(ctx); err != nil {
			w.t.Fatal(err)
		}
		if err := w.v.Follow(ctx); err != nil {
			w.t.Fatal(err)
		}
	}
}

func (w *world) reopen() {
	w.db.Close()
	w.open()
}

func (w *world) coupon(merchant string, req issuer.CouponRequest) credential.Issued {
	w.t.Helper()
	req.Merchant = merchant
	if req.Offer == "" {
		req.Offer = "2 croissants for 1"
	}
	got, err := w.iss.Coupons(req)
	if err != nil {
		w.t.Fatalf("Coupons: %v", err)
	}
	return got[0]
}

func (w *world) redeem(code, register, key string) (verify.Redemption, error) {
	return w.v.Redeem(verify.Request{Merchant: "bakery-1", Code: code, Register: register, IdempotencyKey: key})
}

func TestVerifyOutcomes(t *testing.T) {
	w := newWorld(t, "bakery-1", "bakery-2")
	// Compromising the primary key revokes everything it signed: issue the
	// victim first, rotate, and sign the rest under the new primary.
	compromisedBefore := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: 3 * time.Hour})
	if _, err := w.ring.Rotate("bakery-1", true); err != nil {
		t.Fatal(err)
	}
	fresh := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour})
	used := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour})
	if _, err := w.redeem(used.Code, "till-1", ""); err != nil {
		t.Fatal(err)
	}
	short := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Minute})
	later := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour, NotBefore: w.now().Add(2 * time.Hour)})
	blocked := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour})
	w.store.Update(func(tx storage.Tx) error { return tx.Put(storage.Blocklist, []byte(blocked.Serial), []byte(`{}`)) })
	foreign := w.coupon("bakery-2", issuer.CouponRequest{ValidFor: time.Hour})
	unissued := forge(t, w.ring, "bakery-1")

	// A key the merchant never had: same merchant id, another key ring.
	other := newWorld(t, "bakery-1")
	unknownKey := other.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour})

	beforeRotation := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: 3 * time.Hour})
	if _, err := w.ring.Rotate("bakery-1", false); err != nil {
		t.Fatal(err)
	}
	w.advance(2 * time.Minute)

	for _, tc := range []struct {
		name, code, status, reason string
	}{
		{"a fresh coupon is active", fresh.Code, "active", ""},
		{"a used coupon reads as redeemed", used.Code, "redeemed", "already_redeemed"},
		{"a coupon past its window is expired", short.Code, "expired", "expired"},
		{"a coupon before its window is not yet valid", later.Code, "not_yet_valid", "not_yet_valid"},
		{"a blocked coupon is blocked", blocked.Code, "blocked", "blocked"},
		{"a code of another merchant is refused", foreign.Code, "invalid", "wrong_merchant"},
		{"a code signed outside the issuer is unissued", unissued, "invalid", "unissued_serial"},
		{"a code under a key the merchant never had", unknownKey.Code, "invalid", "unknown_key"},
		{"a code under a compromised key is revoked", compromisedBefore.Code, "revoked", "revoked"},
		{"a code under a replaced (not compromised) key stays active", beforeRotation.Code, "active", ""},
		{"garbage is malformed", "hello", "invalid", "malformed"},
		{"an empty code is malformed", "", "invalid", "malformed"},
		{"a code cut short fails its signature", fresh.Code[:len(fresh.Code)-3], "invalid", "invalid_signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := w.v.Verify(verify.Request{Merchant: "bakery-1", Code: tc.code, Register: "till-1"})
			if err != nil {
				t.Fatalf("Verify error: %v", err)
			}
			if got.Status != tc.status || got.Reason != tc.reason || got.Valid != (tc.reason == "") {
				t.Errorf("Verify = valid %v, status %q, reason %q; want status %q, reason %q", got.Valid, got.Status, got.Reason, tc.status, tc.reason)
			}
		})
	}
}

// forge signs a well-formed coupon with the merchant's real key without
// recording it: what a thief holding the key would do.
func forge(t testing.TB, ring *keys.Ring, merchant string) string {
	serial, _ := credential.NewSerial()
	c := credential.Claims{Kind: credential.KindCoupon, Merchant: merchant, Serial: serial,
		IssuedAt: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC).Unix(), ValidFor: 86400, Count: 1}
	claims, _ := c.Marshal()
	sig, _, err := ring.Sign(merchant, credential.SigningInput(claims))
	if err != nil {
		t.Fatal(err)
	}
	return credential.Encode(claims, sig)
}

func TestEverySingleCharacterChangeFails(t *testing.T) {
	w := newWorld(t, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour})
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	for i := 0; i < len(c.Code); i++ {
		for _, step := range []int{1, 17, 44} {
			b := []byte(c.Code)
			b[i] = alphabet[(indexOf(alphabet, b[i])+step)%len(alphabet)]
			got, err := w.v.Verify(verify.Request{Merchant: "bakery-1", Code: string(b)})
			if err != nil || got.Valid {
				t.Fatalf("code with character %d changed passed: %+v, %v", i, got, err)
			}
		}
	}
	if len(c.Code) >= 200 {
		t.Errorf("coupon code is %d characters, want under 200", len(c.Code))
	}
}

func indexOf(s string, c byte) int {
	for i := range len(s) {
		if s[i] == c {
			return i
		}
	}
	return 0
}

func TestRedeemErrors(t *testing.T) {
	w := newWorld(t, "bakery-1", "bakery-2")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour})
	first, err := w.redeem(c.Code, "till-3", "k1")
	if err != nil || !first.Redeemed || first.UsesLeft != 0 {
		t.Fatalf("first redeem = %+v, %v", first, err)
	}
	again, err := w.redeem(c.Code, "till-3", "k1")
	if err != nil || again != first {
		t.Errorf("retry with the same idempotency key = %+v, %v; want the first answer %+v", again, err, first)
	}
	w.advance(time.Second)
	_, err = w.redeem(c.Code, "till-4", "k2")
	var ar *verify.AlreadyRedeemedError
	if !errors.As(err, &ar) || !errors.Is(err, verify.ErrAlreadyRedeemed) || ar.Register != "till-3" || !ar.At.Equal(first.RedeemedAt) {
		t.Errorf("second redeem = %v, want AlreadyRedeemedError at %v by till-3", err, first.RedeemedAt)
	}
	other := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour})
	if _, err := w.redeem(other.Code, "till-3", "k1"); !errors.Is(err, verify.ErrIdempotencyReused) {
		t.Errorf("same idempotency key with another code = %v, want ErrIdempotencyReused", err)
	}
	foreign := w.coupon("bakery-2", issuer.CouponRequest{ValidFor: time.Hour})
	if _, err := w.redeem(foreign.Code, "till-3", ""); !errors.Is(err, verify.ErrWrongMerchant) {
		t.Errorf("redeeming bakery-2's coupon at bakery-1 = %v, want ErrWrongMerchant", err)
	}
	card := mustCard(t, w)
	if _, err := w.redeem(card.Code, "till-3", ""); !errors.Is(err, verify.ErrWrongKind) {
		t.Errorf("redeeming a card = %v, want ErrWrongKind", err)
	}
}

func mustCard(t testing.TB, w *world) credential.Issued {
	t.Helper()
	if _, err := w.iss.Program("bakery-1", "coffee"); errors.Is(err, issuer.ErrUnknownProgram) {
		_, err := w.iss.CreateProgram(credential.Program{Merchant: "bakery-1", ID: "coffee", StampsRequired: 10,
			Reward: "free coffee", RewardValidFor: 720 * time.Hour, Limits: credential.DefaultLimits})
		if err != nil {
			t.Fatal(err)
		}
	}
	card, err := w.iss.Card("bakery-1", "coffee")
	if err != nil {
		t.Fatal(err)
	}
	return card
}

func TestConcurrentRedemptionsHonourMaxUses(t *testing.T) {
	for _, maxUses := range []int{1, 3} {
		t.Run(fmt.Sprintf("max_uses %d", maxUses), func(t *testing.T) {
			w := newWorld(t, "bakery-1")
			c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour, MaxUses: maxUses})
			var ok, refused atomic.Int32
			var wg sync.WaitGroup
			for i := range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := w.redeem(c.Code, fmt.Sprintf("till-%d", i), fmt.Sprintf("key-%d", i))
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, verify.ErrAlreadyRedeemed):
						refused.Add(1)
					default:
						t.Errorf("redeem: %v", err)
					}
				}()
			}
			wg.Wait()
			if ok.Load() != int32(maxUses) || refused.Load() != int32(100-maxUses) {
				t.Errorf("100 racing redemptions: %d succeeded, %d refused; want %d and %d", ok.Load(), refused.Load(), maxUses, 100-maxUses)
			}
		})
	}
}

func TestRedemptionSurvivesReopen(t *testing.T) {
	w := newWorld(t, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour})
	if _, err := w.redeem(c.Code, "till-1", ""); err != nil {
		t.Fatal(err)
	}
	w.reopen()
	if _, err := w.redeem(c.Code, "till-2", ""); !errors.Is(err, verify.ErrAlreadyRedeemed) {
		t.Errorf("redeem after reopening the database = %v, want ErrAlreadyRedeemed", err)
	}
}

func TestOfflineVerification(t *testing.T) {
	w := newWorld(t, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour})
	pub, _ := w.ring.PublicKeyset("bakery-1")
	claims, err := verify.Offline(pub, c.Code)
	if err != nil || claims.Serial.String() != c.Serial {
		t.Fatalf("Offline = %v, %v; want serial %s", claims, err, c.Serial)
	}
	tampered := []byte(c.Code)
	tampered[len(tampered)-5] ^= 1
	if _, err := verify.Offline(pub, string(tampered)); err == nil {
		t.Error("offline verification passed a tampered code")
	}
}

func TestIdempotencyAnswersExpireAfterADay(t *testing.T) {
	w := newWorld(t, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: 72 * time.Hour})
	if _, err := w.redeem(c.Code, "till-1", "k1"); err != nil {
		t.Fatal(err)
	}
	w.advance(time.Hour)
	fresh := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: 72 * time.Hour})
	w.redeem(fresh.Code, "till-1", "k2")
	if n := w.v.ForgetIdempotency(); n != 0 {
		t.Fatalf("ForgetIdempotency after an hour = %d, want 0", n)
	}
	w.advance(verify.IdempotencyTTL)
	if n := w.v.ForgetIdempotency(); n != 1 {
		t.Fatalf("ForgetIdempotency after a day = %d, want 1 (only the older answer)", n)
	}
	if _, err := w.redeem(c.Code, "till-1", "k1"); !errors.Is(err, verify.ErrAlreadyRedeemed) {
		t.Errorf("retry after the answer expired = %v, want ErrAlreadyRedeemed (the use itself is never forgotten)", err)
	}
	if _, err := w.redeem(fresh.Code, "till-1", "k2"); err != nil {
		t.Errorf("retry within a day = %v, want the first answer", err)
	}
}

// One request retried by many goroutines at once (a register's retries
// racing) is used once and answered alike, even when the retries share a
// group commit with the first attempt.
func TestRacingRetriesOfOneRequestUseOnce(t *testing.T) {
	w := newWorld(t, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour, MaxUses: 3})
	answers := make([]verify.Redemption, 100)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if answers[i], err = w.redeem(c.Code, "till-1", "sale-42"); err != nil {
				t.Errorf("retry %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	for i, a := range answers {
		if a != answers[0] || a.UsesLeft != 2 {
			t.Fatalf("answer %d = %+v, first = %+v; want identical answers with uses_left 2", i, a, answers[0])
		}
	}
	st, err := w.v.Status("bakery-1", c.Serial)
	if err != nil || st.UsesLeft != 2 || len(st.History) != 1 {
		t.Errorf("status = %+v, %v; want one use recorded", st, err)
	}
}

// Uses, card history and idempotent answers are read back from the journal
// when the ledger is reopened.
func TestJournalIsReadBackOnReopen(t *testing.T) {
	w := newWorld(t, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour, MaxUses: 3})
	first, err := w.redeem(c.Code, "till-1", "sale-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.redeem(c.Code, "till-2", ""); err != nil {
		t.Fatal(err)
	}
	card := mustCard(t, w)
	stamp := verify.StampRequest{Request: verify.Request{Merchant: "bakery-1", Code: card.Code, Register: "till-1", IdempotencyKey: "sale-2"}, Stamps: 2}
	stamped, err := w.v.Stamp(stamp)
	if err != nil {
		t.Fatal(err)
	}
	punch, err := w.iss.Punch("bakery-1", "coffee", 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	claim := verify.ClaimRequest{Request: verify.Request{Merchant: "bakery-1", Code: card.Code, Register: "till-3"}, PunchCode: punch.Code}
	if _, err := w.v.Claim(claim); err != nil {
		t.Fatal(err)
	}
	before := map[string]verify.Status{}
	for _, s := range []string{c.Serial, card.Serial, punch.Serial} {
		before[s], _ = w.v.Status("bakery-1", s)
	}

	w.reopen()
	for s, want := range before {
		got, err := w.v.Status("bakery-1", s)
		if err != nil || asJSON(t, got) != asJSON(t, want) {
			t.Errorf("status of %s after reopening:\n got %+v, %v\nwant %+v", s, got, err, want)
		}
	}
	if got := before[card.Serial].History; len(got) != 2 || got[0].Op != "stamp" || got[1].Op != "claim" {
		t.Errorf("card history = %+v, want the stamp, then the claim", got)
	}
	if again, err := w.redeem(c.Code, "till-9", "sale-1"); err != nil || again != first {
		t.Errorf("retry after reopening = %+v, %v; want the first answer %+v", again, err, first)
	}
	if again, err := w.v.Stamp(stamp); err != nil || asJSON(t, again) != asJSON(t, stamped) {
		t.Errorf("stamp retry after reopening = %+v, %v; want the first answer %+v", again, err, stamped)
	}
	if _, err := w.v.Claim(claim); !errors.Is(err, verify.ErrAlreadyRedeemed) {
		t.Errorf("second claim of the punch after reopening = %v, want ErrAlreadyRedeemed", err)
	}
	if _, err := w.redeem(c.Code, "till-4", ""); err != nil {
		t.Errorf("third use of a 3-use coupon after reopening: %v", err)
	}
	var already *verify.AlreadyRedeemedError
	if _, err := w.redeem(c.Code, "till-5", ""); !errors.As(err, &already) || already.Register != "till-1" {
		t.Errorf("fourth use = %v, want AlreadyRedeemedError naming the first register till-1", err)
	}
}

func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
