package report_test

import (
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/internal/testledger"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/report"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

// shop is a real ledger with a clock that the test moves day by day.
type shop struct {
	t     *testing.T
	db    *storage.Bolt
	iss   *issuer.Issuer
	v     *verify.Verifier
	book  *report.Book
	ring  *keys.Ring
	clock atomic.Pointer[time.Time]
}

var day0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func newShop(t *testing.T) *shop {
	s := &shop{t: t}
	s.clock.Store(&day0)
	db, ring := testledger.Open(t, "bakery")
	s.db, s.ring = db, ring
	var err error
	if s.book, err = report.Open(db); err != nil {
		t.Fatal(err)
	}
	s.iss = issuer.New(db, ring, issuer.WithClock(s.now))
	if s.v, err = verify.New(db, ring, verify.WithClock(s.now), verify.WithRewards(s.iss), verify.WithObserver(s.book),
		verify.WithJournalFeed(s.book.Committed)); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *shop) now() time.Time { return *s.clock.Load() }
func (s *shop) at(days int, h int) {
	n := day0.AddDate(0, 0, days).Add(time.Duration(h) * time.Hour)
	s.clock.Store(&n)
}

// issued tells the Book of an issuance, as the API does.
func (s *shop) issued(c credential.Issued) {
	s.book.Observe(fraud.Event{Time: s.now(), Op: fraud.OpIssue, Result: fraud.ResultOK, Merchant: "bakery", Kind: c.Kind.String(), Serial: c.Serial})
}

func (s *shop) card() string {
	c, err := s.iss.Card("bakery", "coffee")
	if err != nil {
		s.t.Fatal(err)
	}
	s.issued(c)
	return c.Code
}

func (s *shop) stamp(code string, n int) []credential.Issued {
	r, err := s.v.Stamp(verify.StampRequest{Request: verify.Request{Merchant: "bakery", Code: code, Register: "till-1"}, Stamps: n})
	if err != nil {
		s.t.Fatal(err)
	}
	return r.Rewards
}

func (s *shop) stats(from, to int) report.Stats {
	s.t.Helper()
	st, err := s.book.Stats("bakery", day0.AddDate(0, 0, from), day0.AddDate(0, 0, to))
	if err != nil {
		s.t.Fatal(err)
	}
	return st
}

func TestFiguresOverDays(t *testing.T) {
	s := newShop(t)
	eur := func(n int64) []credential.Value { return []credential.Value{{Amount: n, Currency: "EUR"}} }
	if _, err := s.iss.CreateProgram(credential.Program{Merchant: "bakery", ID: "coffee", StampsRequired: 2, Reward: "coffee",
		RewardValidFor: 48 * time.Hour, Value: &credential.Value{Amount: 300, Currency: "EUR"}}); err != nil {
		t.Fatal(err)
	}
	a, b := s.card(), s.card()
	s.stamp(a, 1)
	s.at(2, 0)
	r1 := s.stamp(a, 1)[0]
	s.stamp(b, 2) // its reward expires on day 4, never redeemed
	s.at(3, 0)
	if _, err := s.v.Redeem(verify.Request{Merchant: "bakery", Code: r1.Code, Register: "till-2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.v.Redeem(verify.Request{Merchant: "bakery", Code: r1.Code, Register: "till-2"}); err == nil {
		t.Fatal("a reward redeemed twice")
	}
	s.at(6, 0)
	s.stamp(a, 1)

	week := s.stats(0, 6)
	three := 3.0
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"cards issued", week.CardsIssued, 2},
		{"active cards", week.ActiveCards, 2},
		{"stamps", week.Stamps, 5},
		{"rewards earned", week.RewardsEarned, 2},
		{"rewards redeemed", week.RewardsRedeemed, 1},
		{"rewards outstanding after one expired", week.RewardsOutstanding, 0},
		{"value earned", week.RewardsEarnedValue, eur(600)},
		{"value outstanding", week.RewardsOutstandingValue, []credential.Value{}},
		{"repeat visit rate", week.RepeatVisitRate, 0.5},
		{"median days between visits (2 and 4)", week.MedianDaysBetweenVisits, &three},
		{"refused", week.Refused, map[string]int{"already_redeemed": 1}},
		{"refused value", week.RefusedValue, eur(300)},
		{"registers", week.Registers, []report.Register{{Register: "till-1", Stamps: 5}, {Register: "till-2", Redemptions: 1}}},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v; want %v", c.name, c.got, c.want)
		}
	}
	var outstanding []int
	for _, d := range week.Days {
		outstanding = append(outstanding, d.RewardsOutstanding)
	}
	if want := []int{0, 0, 2, 1, 0, 0, 0}; !slices.Equal(outstanding, want) {
		t.Errorf("rewards outstanding per day = %v; want %v", outstanding, want)
	}
	// A window of day 3 alone carries the rewards earned before it.
	d3 := s.stats(3, 3)
	if d3.RewardsOutstanding != 1 || !reflect.DeepEqual(d3.RewardsOutstandingValue, eur(300)) || d3.RewardsRedeemed != 1 ||
		d3.ActiveCards != 0 || d3.MedianDaysBetweenVisits != nil || d3.Stamps != 0 {
		t.Errorf("day 3 = %+v", d3)
	}

	// Rebuilt from the ledger alone, the Book gives the same figures.
	rebuilt, err := report.Open(s.db)
	if err != nil {
		t.Fatal(err)
	}
	again, err := rebuilt.Stats("bakery", day0, day0.AddDate(0, 0, 6))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, week) {
		t.Errorf("rebuilt figures differ:\n got %+v\nwant %+v", again, week)
	}
}

func TestWindowIsChecked(t *testing.T) {
	s := newShop(t)
	if _, err := s.book.Stats("bakery", day0, day0.AddDate(0, 0, -1)); err != report.ErrWindow {
		t.Errorf("backwards window: err = %v", err)
	}
	if _, err := s.book.Stats("bakery", day0, day0.AddDate(6, 0, 0)); err != report.ErrWindow {
		t.Errorf("six-year window: err = %v", err)
	}
	st, err := s.book.Stats("nobody", day0, day0)
	if err != nil || st.CardsIssued != 0 || len(st.Days) != 1 {
		t.Errorf("unknown merchant: %+v, %v", st, err)
	}
}

func TestVoidsAreTakenBack(t *testing.T) {
	s := newShop(t)
	if _, err := s.iss.CreateProgram(credential.Program{Merchant: "bakery", ID: "coffee", StampsRequired: 2, Reward: "coffee",
		RewardValidFor: 48 * time.Hour, Value: &credential.Value{Amount: 300, Currency: "EUR"}}); err != nil {
		t.Fatal(err)
	}
	a := s.card()
	reward := s.stamp(a, 2)[0]
	red, err := s.v.Redeem(verify.Request{Merchant: "bakery", Code: reward.Code, Register: "till-1"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.v.Stamp(verify.StampRequest{Request: verify.Request{Merchant: "bakery", Code: a, Register: "till-2"}, Stamps: 1})
	if err != nil {
		t.Fatal(err)
	}
	coupons, err := s.iss.Coupons(issuer.CouponRequest{Merchant: "bakery", Offer: "croissant"})
	if err != nil {
		t.Fatal(err)
	}
	s.issued(coupons[0])
	cr, err := s.v.Redeem(verify.Request{Merchant: "bakery", Code: coupons[0].Code, Register: "till-2"})
	if err != nil {
		t.Fatal(err)
	}
	before := s.stats(0, 0)
	if before.RewardsRedeemed != 1 || before.Stamps != 3 || before.CouponsRedeemed != 1 {
		t.Fatalf("before the voids: %+v", before)
	}
	for _, id := range []string{red.RedemptionID, cr.RedemptionID} {
		if _, err := s.v.VoidRedemption(verify.VoidRequest{Merchant: "bakery", ID: id, Reason: "wrong item"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.v.VoidStamp(verify.VoidRequest{Merchant: "bakery", ID: st.StampID, Reason: "wrong card"}); err != nil {
		t.Fatal(err)
	}
	after := s.stats(0, 0)
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"stamps", after.Stamps, 2},
		{"rewards redeemed", after.RewardsRedeemed, 0},
		{"rewards outstanding", after.RewardsOutstanding, 1},
		{"coupons redeemed", after.CouponsRedeemed, 0},
		{"registers", after.Registers, []report.Register{{Register: "till-1", Stamps: 2}}},
		{"repeat visits", after.RepeatVisitRate, 0.0},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("after the voids, %s = %v; want %v", c.name, c.got, c.want)
		}
	}
	rebuilt, err := report.Open(s.db)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := rebuilt.Stats("bakery", day0, day0)
	if !reflect.DeepEqual(again, after) {
		t.Errorf("rebuilt after voids:\n got %+v\nwant %+v", again, after)
	}
}

// countingStore counts the issuance records and journal events read
// through it.
type countingStore struct {
	storage.Backend
	records, journal atomic.Int64
}

func (c *countingStore) View(fn func(storage.Tx) error) error {
	return c.Backend.View(func(tx storage.Tx) error { return fn(countingTx{tx, c}) })
}

type countingTx struct {
	storage.Tx
	c *countingStore
}

func (t countingTx) Get(b storage.Bucket, k []byte) []byte {
	v := t.Tx.Get(b, k)
	switch {
	case b == storage.Credentials:
		t.c.records.Add(1)
	case b == storage.History && v != nil:
		t.c.journal.Add(1)
	}
	return v
}

// countedShop is a shop whose Book reads the ledger through a
// countingStore. The caller makes the shop's verifier, which tells it.
func countedShop(t *testing.T) (*shop, *countingStore) {
	s := newShop(t)
	cs := &countingStore{Backend: s.db}
	book, err := report.Open(cs)
	if err != nil {
		t.Fatal(err)
	}
	s.book = book
	return s, cs
}

// The Book keeps the coupons it saw issued, so that counting their
// redemptions reads no issuance record again.
func TestRedemptionsOfCouponsSeenIssuedReadNoRecord(t *testing.T) {
	s, cs := countedShop(t)
	book := s.book
	var err error
	if s.v, err = verify.New(s.db, s.ring, verify.WithClock(s.now), verify.WithObserver(book)); err != nil {
		t.Fatal(err)
	}
	coupons, err := s.iss.Coupons(issuer.CouponRequest{Merchant: "bakery", Offer: "croissant", Count: 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range coupons {
		s.issued(c)
	}
	if err := book.CatchUp(); err != nil {
		t.Fatal(err)
	}
	read := cs.records.Load()
	for _, c := range coupons {
		if _, err := s.v.Redeem(verify.Request{Merchant: "bakery", Code: c.Code, Register: "till-1"}); err != nil {
			t.Fatal(err)
		}
	}
	st := s.stats(0, 0)
	if st.CouponsIssued != 20 || st.CouponsRedeemed != 20 {
		t.Fatalf("figures: %d coupons issued, %d redeemed; want 20 and 20", st.CouponsIssued, st.CouponsRedeemed)
	}
	if n := cs.records.Load() - read; n != 0 {
		t.Errorf("counting 20 redemptions read %d issuance records, want 0", n)
	}
}

// The verifier feeds the Book each commit's journal events, with the
// issuance record each redemption was checked against, so that counting
// them reads neither the journal nor a record back, even for coupons the
// Book has not met. Events missing from the feed (commits it dropped) are
// read from the journal, and the figures are the ledger's either way.
func TestFedJournalEventsAreCountedWithoutReadingTheLedger(t *testing.T) {
	for _, c := range []struct {
		name string
		drop func(commit int) bool
	}{
		{"every commit fed", func(int) bool { return false }},
		{"every third commit missing", func(n int) bool { return n%3 == 0 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, cs := countedShop(t)
			book := s.book
			commits, dropped := 0, 0
			feed := func(evs []verify.JournalEvent) {
				commits++ // commits run one at a time
				if c.drop(commits) {
					dropped += len(evs)
					return
				}
				book.Committed(evs)
			}
			var err error
			if s.v, err = verify.New(s.db, s.ring, verify.WithClock(s.now), verify.WithObserver(book), verify.WithJournalFeed(feed)); err != nil {
				t.Fatal(err)
			}
			coupons, err := s.iss.Coupons(issuer.CouponRequest{Merchant: "bakery", Offer: "croissant", Count: 12})
			if err != nil {
				t.Fatal(err)
			}
			for i, cp := range coupons {
				if _, err := s.v.Redeem(verify.Request{Merchant: "bakery", Code: cp.Code, Register: "till-1"}); err != nil {
					t.Fatal(err)
				}
				if i == 5 {
					s.stats(0, 0) // a catch-up halfway
				}
			}
			if st := s.stats(0, 0); st.CouponsRedeemed != 12 {
				t.Fatalf("%d coupons redeemed, want 12", st.CouponsRedeemed)
			}
			records, journal := cs.records.Load(), cs.journal.Load()
			if dropped == 0 && records+journal != 0 {
				t.Errorf("counting 12 fed redemptions read %d issuance records and %d journal entries, want none", records, journal)
			}
			if dropped > 0 && journal < int64(dropped) {
				t.Errorf("%d events missing from the feed, %d journal entries read", dropped, journal)
			}
			for _, cp := range coupons {
				s.issued(cp) // met late: its issuance is counted all the same
			}
			st := s.stats(0, 0)
			if st.CouponsIssued != 12 || st.CouponsRedeemed != 12 {
				t.Fatalf("figures: %d coupons issued, %d redeemed; want 12 and 12", st.CouponsIssued, st.CouponsRedeemed)
			}
			rebuilt, err := report.Open(s.db)
			if err != nil {
				t.Fatal(err)
			}
			if again, _ := rebuilt.Stats("bakery", day0, day0); !reflect.DeepEqual(again, st) {
				t.Errorf("rebuilt figures differ:\n got %+v\nwant %+v", again, st)
			}
		})
	}
}
