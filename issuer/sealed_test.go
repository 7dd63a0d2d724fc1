package issuer_test

import (
	"testing"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/internal/testledger"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
)

// bareSigner signs but cannot seal, as the issuer of an older version did:
// its codes are stored in clear.
type bareSigner struct{ ring *keys.Ring }

func (b bareSigner) Sign(merchant string, msg []byte) ([]byte, uint32, error) {
	return b.ring.Sign(merchant, msg)
}

func TestCodesAreSealedAtRest(t *testing.T) {
	const m = "bakery-1"
	db, ring := testledger.Open(t, m)
	load := func(serial string) credential.Record {
		t.Helper()
		s, _ := credential.ParseSerial(serial)
		var rec credential.Record
		if err := db.View(func(tx storage.Tx) error { var err error; rec, err = credential.Load(tx, s[:]); return err }); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	open := func(serial string, rec credential.Record) string {
		t.Helper()
		s, _ := credential.ParseSerial(serial)
		code, err := rec.CodeOf(s[:], ring)
		if err != nil {
			t.Fatal(err)
		}
		return code
	}

	sealed, err := issuer.New(db, ring).Coupons(issuer.CouponRequest{Merchant: m, Offer: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if rec := load(sealed[0].Serial); rec.Code != "" || len(rec.SealedCode) == 0 || open(sealed[0].Serial, rec) != sealed[0].Code {
		t.Errorf("a new code is not stored sealed: clear %q, sealed %d bytes", rec.Code, len(rec.SealedCode))
	}
	// Another serial's sealed code does not open under this one.
	a, b := load(sealed[0].Serial), sealed[0].Serial
	other, _ := issuer.New(db, ring).Coupons(issuer.CouponRequest{Merchant: m, Offer: "y"})
	s2, _ := credential.ParseSerial(other[0].Serial)
	if _, err := a.CodeOf(s2[:], ring); err == nil {
		t.Errorf("the sealed code of %s opened as the code of another serial", b)
	}

	legacy, err := issuer.New(db, bareSigner{ring}).Coupons(issuer.CouponRequest{Merchant: m, Offer: "x", Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rec := load(legacy[0].Serial); rec.Code != legacy[0].Code {
		t.Fatal("the bare signer's issuer did not keep the code in clear")
	}
	n, err := credential.SealLegacyCodes(db, ring)
	if err != nil || n != 3 {
		t.Fatalf("SealLegacyCodes = %d, %v; want 3 sealed", n, err)
	}
	for _, c := range legacy {
		if rec := load(c.Serial); rec.Code != "" || open(c.Serial, rec) != c.Code {
			t.Errorf("legacy code %s: clear %q after sealing", c.Serial, rec.Code)
		}
	}
	if n, err := credential.SealLegacyCodes(db, ring); n != 0 || err != nil {
		t.Errorf("a second SealLegacyCodes = %d, %v; want 0", n, err)
	}
}
