package report_test

import (
	"testing"
	"time"

	"github.com/stampseal/stampseal/internal/etcdtest"
	"github.com/stampseal/stampseal/internal/testledger"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/storage/etcdstore"
	"github.com/stampseal/stampseal/verify"
)

// A node joining a fleet builds its figures from one read of the ledger:
// pages of a scan, not a request per record, and not the whole ledger
// twice (Open and then Follow).
func TestANodesFiguresStartFromOneReadOfTheLedger(t *testing.T) {
	cluster := etcdtest.New(t)
	prefix := cluster.Prefix(t)
	open := func() *etcdstore.Store {
		s, err := etcdstore.Open(etcdstore.Config{Endpoints: cluster.Endpoints(), Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	store := open()
	ring := testledger.Ring(t, store, "bakery")
	v, err := verify.New(store, ring)
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	var coupons []string
	for len(coupons) < n {
		cs, err := issuer.New(store, ring).Coupons(issuer.CouponRequest{Merchant: "bakery", Offer: "croissant", Count: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			coupons = append(coupons, c.Code)
		}
	}
	for _, c := range coupons {
		if _, err := v.Redeem(verify.Request{Merchant: "bakery", Code: c, Register: "till-1"}); err != nil {
			t.Fatal(err)
		}
	}

	node := open()
	before, _ := node.Requests()
	book := followingBook(t, node)
	after, _ := node.Requests()
	now := time.Now()
	st, err := book.Stats("bakery", now.AddDate(0, 0, -1), now.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if st.CouponsIssued != n || st.CouponsRedeemed != n {
		t.Fatalf("figures: %d coupons issued, %d redeemed; want %d and %d", st.CouponsIssued, st.CouponsRedeemed, n, n)
	}
	// A page of issuance records, one of journal events, and the other
	// buckets the Book follows: a read per record was over 300.
	reads := after - before
	if reads > 20 {
		t.Errorf("the figures started with %d etcd reads over %d records and %d events", reads, n, n)
	}
	t.Logf("%d etcd reads", reads)
}
