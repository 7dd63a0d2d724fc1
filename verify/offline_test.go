package verify_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/verify"
)

// The exported public keyset marks keys that are no longer trusted, and
// offline verification refuses their codes as revoked: a compromised key
// and a retired one, each after an export that still trusted it.
func TestOfflineRefusesKeysTheExportMarks(t *testing.T) {
	w := newWorld(t, "bakery-1")
	mint := func() string {
		t.Helper()
		c, err := w.iss.Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "x", ValidFor: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return c[0].Code
	}
	underFirst := mint()
	before, _ := w.ring.PublicKeyset("bakery-1")
	if _, err := verify.Offline(before, underFirst); err != nil {
		t.Fatalf("a code under a trusted key offline: %v", err)
	}
	secondKey, err := w.ring.Rotate("bakery-1", true) // the first key is compromised
	if err != nil {
		t.Fatal(err)
	}
	underSecond := mint()
	if _, err := w.ring.Rotate("bakery-1", false); err != nil {
		t.Fatal(err)
	}
	if err := w.ring.Retire("bakery-1", secondKey); err != nil {
		t.Fatal(err)
	}
	after, _ := w.ring.PublicKeyset("bakery-1")
	if n := strings.Count(string(after), `"DISABLED"`); n != 2 {
		t.Errorf("export after a compromise and a retirement has %d disabled keys, want 2:\n%s", n, after)
	}
	for name, code := range map[string]string{"compromised": underFirst, "retired": underSecond} {
		if _, err := verify.Offline(after, code); !errors.Is(err, verify.ErrRevoked) {
			t.Errorf("code under the %s key offline = %v, want revoked", name, err)
		}
	}
	if _, err := verify.Offline(after, mint()); err != nil {
		t.Errorf("a code under the primary offline: %v", err)
	}
}
