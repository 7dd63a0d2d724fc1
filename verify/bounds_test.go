package verify_test

import (
	"errors"
	"testing"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/verify"
)

// A purchase adds one stamp unless it says otherwise, and at most
// credential.MaxStampsAtOnce: the same bound whatever the way in.
func TestAStampAddsOneByDefaultAndAtMostTheBound(t *testing.T) {
	w := newWorld(t, "bakery-1")
	card := mustCard(t, w)
	stamp := func(n int) (verify.StampResult, error) {
		return w.v.Stamp(verify.StampRequest{Request: verify.Request{Merchant: "bakery-1", Code: card.Code, Register: "till-1"}, Stamps: n})
	}
	if got, err := stamp(0); err != nil || got.Added != 1 || got.Stamps != 1 {
		t.Errorf("stamp of 0 = %+v, %v; want one stamp added", got, err)
	}
	if _, err := stamp(credential.MaxStampsAtOnce + 1); !errors.Is(err, verify.ErrInvalidRequest) {
		t.Errorf("stamp of %d = %v; want ErrInvalidRequest", credential.MaxStampsAtOnce+1, err)
	}
}
