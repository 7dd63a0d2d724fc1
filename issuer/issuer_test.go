package issuer_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stampseal/stampseal/barcode"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/internal/testledger"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
)

func newIssuer(t testing.TB, opts ...issuer.Option) (*issuer.Issuer, storage.Backend) {
	db, ring := testledger.Open(t, "corner-bakery-elm-street")
	return issuer.New(db, ring, opts...), db
}

// TestCodesFitSmallQRSymbols reports each kind's code length and QR
// version; a coupon must fit version 10 at error correction M.
func TestCodesFitSmallQRSymbols(t *testing.T) {
	iss, _ := newIssuer(t)
	const m = "corner-bakery-elm-street" // the longest merchant id: codes grow with it
	if _, err := iss.CreateProgram(credential.Program{Merchant: m, ID: "coffee", StampsRequired: 10, Reward: "free coffee", RewardValidFor: 720 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	coupons, err := iss.Coupons(issuer.CouponRequest{Merchant: m, Offer: "2 croissants for 1", ValidFor: 168 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	card, _ := iss.Card(m, "coffee")
	punch, _ := iss.Punch(m, "coffee", 1, 72*time.Hour)
	for _, c := range []credential.Issued{coupons[0], card, punch} {
		v, modules, err := barcode.QRVersion(c.Code)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%-6s %3d characters: QR version %d (%d modules, %d px a module at 300 px with the quiet zone)", c.Kind, len(c.Code), v, modules, 300/(modules+8))
		if c.Kind == credential.KindCoupon && (v > 10 || len(c.Code) >= 200) {
			t.Errorf("coupon code of %d characters needs QR version %d, want under 200 characters and version 10 or lower", len(c.Code), v)
		}
	}
}

func TestBatchIsAllOrNothing(t *testing.T) {
	iss, db := newIssuer(t)
	if _, err := iss.Coupons(issuer.CouponRequest{Merchant: "corner-bakery-elm-street", Offer: "x", Count: 1001}); err == nil {
		t.Fatal("a batch of 1001 was accepted")
	}
	got, err := iss.Coupons(issuer.CouponRequest{Merchant: "corner-bakery-elm-street", Offer: "x", Count: 1000, MaxUses: 3})
	if err != nil || len(got) != 1000 {
		t.Fatalf("batch of 1000 = %d, %v", len(got), err)
	}
	seen := map[string]bool{}
	db.View(func(tx storage.Tx) error {
		for _, c := range got {
			s, _ := credential.ParseSerial(c.Serial)
			rec, err := credential.Load(tx, s[:])
			if err != nil || rec.MaxUses != 3 || rec.Code != "" || len(rec.SealedCode) == 0 || seen[c.Serial] {
				t.Fatalf("record of %s: %+v, %v (duplicate %v)", c.Serial, rec, err, seen[c.Serial])
			}
			seen[c.Serial] = true
		}
		return nil
	})
	if _, err := iss.Coupons(issuer.CouponRequest{Merchant: "no-such-shop", Offer: "x"}); err == nil {
		t.Error("coupons for a merchant without keys were issued")
	}
}

// Example shows a point of sale minting a coupon: the code goes on a
// barcode, the serial into the shop's books.
func Example() {
	dir, _ := os.MkdirTemp("", "stampseal-example-")
	defer os.RemoveAll(dir)
	db, _ := storage.OpenBolt(filepath.Join(dir, "example.db"))
	defer db.Close()
	text, _ := keys.NewMasterKeyText()
	master, _ := keys.ParseMasterKey(text)
	ring := keys.NewRing(db, master)
	ring.Create("bakery-1")
	iss := issuer.New(db, ring)
	coupons, _ := iss.Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "2 croissants for 1", ValidFor: 168 * time.Hour})
	c := coupons[0]
	fmt.Println(c.Kind, len(c.Serial), c.Code[:4])
	// Output: coupon 32 SS1:
}

// A punch is worth one stamp unless the request says otherwise, and at
// most credential.MaxStampsAtOnce.
func TestAPunchIsWorthOneStampByDefault(t *testing.T) {
	iss, _ := newIssuer(t)
	const m = "corner-bakery-elm-street"
	if _, err := iss.CreateProgram(credential.Program{Merchant: m, ID: "coffee", StampsRequired: 10, Reward: "free coffee", RewardValidFor: 720 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	punch, err := iss.Punch(m, "coffee", 0, issuer.DefaultPunchValidFor)
	if err != nil {
		t.Fatal(err)
	}
	code, err := credential.Parse(punch.Code)
	if err != nil {
		t.Fatal(err)
	}
	if code.Claims.Count != 1 {
		t.Errorf("punch of 0 stamps is worth %d; want 1", code.Claims.Count)
	}
	if _, err := iss.Punch(m, "coffee", credential.MaxStampsAtOnce+1, time.Hour); !errors.Is(err, issuer.ErrInvalid) {
		t.Errorf("punch of %d stamps = %v; want ErrInvalid", credential.MaxStampsAtOnce+1, err)
	}
}
