package verify_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

// Example shows a register redeeming a coupon, and the same coupon
// presented again.
func Example() {
	dir, _ := os.MkdirTemp("", "stampseal-example-")
	defer os.RemoveAll(dir)
	db, _ := storage.OpenBolt(filepath.Join(dir, "ledger.db"))
	defer db.Close()
	text, _ := keys.NewMasterKeyText()
	master, _ := keys.ParseMasterKey(text)
	ring := keys.NewRing(db, master)
	ring.Create("bakery-1")
	coupons, _ := issuer.New(db, ring).Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "free coffee", ValidFor: time.Hour})

	v, _ := verify.New(db, ring)
	req := verify.Request{Merchant: "bakery-1", Code: coupons[0].Code, Register: "till-3"}
	res, _ := v.Verify(req)
	fmt.Println(res.Valid, res.Status)
	r, _ := v.Redeem(req)
	fmt.Println(r.Redeemed, r.UsesLeft)
	_, err := v.Redeem(req)
	var already *verify.AlreadyRedeemedError
	fmt.Println(errors.As(err, &already), already.Register)
	// Output:
	// true active
	// true 0
	// true till-3
}
