package report_test

import (
	"context"
	"testing"
	"time"

	"github.com/stampseal/stampseal/internal/sharedtest"
	"github.com/stampseal/stampseal/internal/testledger"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/report"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

// followingBook opens the Book of a node on a shared store and follows
// the store until the test ends, as a serving node does.
func followingBook(t *testing.T, store storage.Shared) *report.Book {
	t.Helper()
	book, err := report.Open(store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := book.Follow(ctx); err != nil {
		t.Fatal(err)
	}
	return book
}

// On a shared ledger the Book reads the whole ledger again after a watch
// that lost track; every journal event and issuance still counts once,
// and what happens afterwards counts too.
func TestFleetFiguresCountOnceAcrossALostWatch(t *testing.T) {
	store := sharedtest.Open(t)
	ring := testledger.Ring(t, store, "bakery")
	book := followingBook(t, store)
	iss := issuer.New(store, ring)
	v, err := verify.New(store, ring, verify.WithObserver(book))
	if err != nil {
		t.Fatal(err)
	}
	coupons, err := iss.Coupons(issuer.CouponRequest{Merchant: "bakery", Offer: "croissant", Count: 20})
	if err != nil {
		t.Fatal(err)
	}
	redeem := func(from, to int) {
		for _, c := range coupons[from:to] {
			if _, err := v.Redeem(verify.Request{Merchant: "bakery", Code: c.Code, Register: "till-1"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	figures := func(issued, redeemed int) {
		t.Helper()
		var st report.Stats
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if err := book.CatchUp(); err != nil {
				t.Fatal(err)
			}
			now := time.Now() // yesterday to tomorrow: the test may cross midnight
			if st, err = book.Stats("bakery", now.AddDate(0, 0, -1), now.AddDate(0, 0, 1)); err != nil {
				t.Fatal(err)
			}
			if st.CouponsRedeemed >= redeemed {
				break
			}
		}
		if st.CouponsIssued != issued || st.CouponsRedeemed != redeemed {
			t.Fatalf("figures: %d coupons issued, %d redeemed; want %d and %d", st.CouponsIssued, st.CouponsRedeemed, issued, redeemed)
		}
	}
	redeem(0, 10)
	figures(20, 10)
	// The watches lose track: the next catch-up reads everything again.
	store.Lost(storage.History)
	store.Lost(storage.Credentials)
	redeem(10, 15)
	figures(20, 15)
}
