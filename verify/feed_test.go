package verify_test

import (
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/internal/testledger"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

var errRollBack = errors.New("roll back")

// The journal feed hands out, commit by commit, exactly the events the
// journal holds: a reader fed by it counts what a reader of the journal
// would. Refused requests and idempotent retries write nothing and feed
// nothing.
func TestTheJournalFeedGivesWhatTheJournalHolds(t *testing.T) {
	db, ring := testledger.Open(t, "bakery-1")
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	iss := issuer.New(db, ring, issuer.WithClock(clock))
	var mu sync.Mutex
	var fed []verify.JournalEvent
	commits := 0
	v, err := verify.New(db, ring, verify.WithClock(clock), verify.WithRewards(iss), verify.WithJournalFeed(func(evs []verify.JournalEvent) {
		mu.Lock()
		defer mu.Unlock()
		commits++
		fed = append(fed, evs...)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.CreateProgram(credential.Program{Merchant: "bakery-1", ID: "coffee", StampsRequired: 2, Reward: "coffee", RewardValidFor: 48 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	card, err := iss.Card("bakery-1", "coffee")
	if err != nil {
		t.Fatal(err)
	}
	coupons, err := iss.Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "croissant", Count: 3, ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	req := func(code string) verify.Request {
		return verify.Request{Merchant: "bakery-1", Code: code, Register: "till-1", APIKey: "k1"}
	}
	st, err := v.Stamp(verify.StampRequest{Request: req(card.Code), Stamps: 2}) // earns a reward
	if err != nil || len(st.Rewards) != 1 {
		t.Fatalf("stamp: %+v, %v", st, err)
	}
	keyed := req(coupons[0].Code)
	keyed.IdempotencyKey = "sale-1"
	red, err := v.Redeem(keyed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Redeem(keyed); err != nil { // a retry: the same answer, nothing written
		t.Fatal(err)
	}
	if _, err := v.Redeem(req(coupons[0].Code)); err == nil { // refused: nothing written
		t.Fatal("a coupon redeemed twice")
	}
	if _, err := v.VoidRedemption(verify.VoidRequest{Merchant: "bakery-1", APIKey: "k1", Register: "till-1", ID: red.RedemptionID, Reason: "wrong item"}); err != nil {
		t.Fatal(err)
	}
	hold, err := v.Reserve(verify.ReserveRequest{Request: req(coupons[1].Code)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Confirm(verify.HoldAction{Merchant: "bakery-1", APIKey: "k1", Reservation: hold.ReservationID}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Redeem(req(st.Rewards[0].Code)); err != nil {
		t.Fatal(err)
	}
	// Concurrent redemptions share commits; each event is fed once. Writes
	// that fail in the same commits roll it back, and it is run again
	// without them: what was rolled back is not fed.
	more, err := iss.Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "bagel", Count: 40, ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, c := range more {
		wg.Go(func() {
			if _, err := v.Redeem(req(c.Code)); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if err := db.Update(func(storage.Tx) error { return errRollBack }); err != errRollBack {
				t.Errorf("a failing write: %v", err)
			}
		})
	}
	wg.Wait()

	var journal []verify.JournalEvent
	err = db.View(func(tx storage.Tx) error {
		_, err := verify.ReadJournal(tx, 0, func(e verify.JournalEvent) error {
			journal = append(journal, e)
			return nil
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(journal) < 47 {
		t.Fatalf("the journal holds %d events, want at least 47", len(journal))
	}
	mu.Lock()
	defer mu.Unlock()
	// A fed use carries the issuance record it was checked against, which
	// the journal does not hold.
	uses := 0
	for i := range fed {
		e := &fed[i]
		if e.Entry.Op == "redeem" && e.Use {
			uses++
			rec, err := v.Record("bakery-1", e.Serial.String())
			if err != nil || e.Record.Merchant != rec.Merchant || e.Record.Offer != rec.Offer || e.Record.MaxUses != rec.MaxUses {
				t.Errorf("redemption %d carries record %+v, the ledger holds %+v (%v)", e.Seq, e.Record, rec, err)
			}
		} else if e.Record.Merchant != "" {
			t.Errorf("event %d (%s) carries a record", e.Seq, e.Entry.Op)
		}
		e.Record = credential.Record{}
	}
	if uses != 43 {
		t.Errorf("%d redemptions fed, want 43", uses)
	}
	if !reflect.DeepEqual(fed, journal) {
		t.Errorf("fed %d events in %d commits, the journal holds %d:\nfed     %+v\njournal %+v", len(fed), commits, len(journal), fed, journal)
	}
}
