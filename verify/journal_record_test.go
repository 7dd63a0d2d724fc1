package verify_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

// journalDay runs one of every journal write that remembers an answer or a
// reply, and returns the calls that give those answers again.
func journalDay(t *testing.T, w *world) map[string]func() (any, error) {
	t.Helper()
	sale := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: 24 * time.Hour, MaxUses: 3})
	// A card that fills on this visit, so that the answer holds a reward.
	_, err := w.iss.CreateProgram(credential.Program{Merchant: "bakery-1", ID: "tea", StampsRequired: 2,
		Reward: "free tea", RewardValidFor: 720 * time.Hour, Limits: credential.DefaultLimits})
	if err != nil {
		t.Fatal(err)
	}
	card, err := w.iss.Card("bakery-1", "tea")
	if err != nil {
		t.Fatal(err)
	}
	redeem := func() (any, error) { return w.redeem(sale.Code, "till-1", "sale-1") }
	stamp := func() (any, error) {
		return w.v.Stamp(verify.StampRequest{Request: verify.Request{Merchant: "bakery-1", Code: card.Code,
			Register: "till-1", APIKey: "k1", IdempotencyKey: "stamp-1"}, Stamps: 3})
	}
	reserve := func(key string) func() (any, error) {
		return func() (any, error) {
			return w.v.Reserve(verify.ReserveRequest{Request: verify.Request{Merchant: "bakery-1", Code: sale.Code,
				Register: "till-k1", APIKey: "k1", IdempotencyKey: key}, TTL: 10 * time.Minute})
		}
	}
	calls := map[string]func() (any, error){"redeem": redeem, "stamp": stamp, "reserve": reserve("hold-1")}
	first := map[string]any{}
	for name, call := range calls {
		got, err := call()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		first[name] = got
	}
	held := first["reserve"].(verify.Reservation)
	calls["confirm"] = func() (any, error) { return w.v.Confirm(w.hold("k1", held.ReservationID)) }
	other, err := reserve("hold-2")()
	if err != nil {
		t.Fatal(err)
	}
	calls["release"] = func() (any, error) { return w.v.Release(w.hold("k1", other.(verify.Reservation).ReservationID)) }
	calls["void redemption"] = func() (any, error) {
		return w.v.VoidRedemption(w.void(first["redeem"].(verify.Redemption).RedemptionID))
	}
	calls["void stamp"] = func() (any, error) { return w.v.VoidStamp(w.void(first["stamp"].(verify.StampResult).StampID)) }
	for _, name := range []string{"confirm", "release", "void redemption", "void stamp"} {
		if _, err := calls[name](); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return calls
}

// answers calls each and returns what it answered, with the statuses of
// the serials (their history read back from the journal).
func answers(t *testing.T, w *world, calls map[string]func() (any, error)) map[string]any {
	t.Helper()
	out := map[string]any{}
	for name, call := range calls {
		got, err := call()
		if err != nil {
			t.Fatalf("%s again: %v", name, err)
		}
		out[name] = got
	}
	for _, name := range []string{"redeem", "stamp"} {
		serial := reflect.ValueOf(out[name]).FieldByName("Serial").String()
		st, err := w.v.Status("bakery-1", serial)
		if err != nil {
			t.Fatal(err)
		}
		out[name+" status"] = st
	}
	return out
}

// A ledger written before the journal had its own record types stored the
// API's answers under their JSON names. It must still open, give every
// remembered answer and reply again, and read back the same history.
func TestALedgerOfTheOldFormatStillAnswers(t *testing.T) {
	w := newWorld(t, "bakery-1")
	calls := journalDay(t, w)
	want := answers(t, w, calls)
	n, err := verify.RewriteJournalAsLegacy(w.db)
	if err != nil || n == 0 {
		t.Fatalf("rewriting the journal in the old format: %d events, %v", n, err)
	}
	if !journalHolds(t, w.db, "redeemed_at") {
		t.Fatal("the rewritten journal does not hold the old JSON names")
	}
	w.reopen()
	if got := answers(t, w, calls); !reflect.DeepEqual(got, want) {
		t.Errorf("after reopening an old-format ledger:\n got %+v\nwant %+v", got, want)
	}
}

// The journal's format does not follow the API's field names: no JSON
// name of an answer appears in a journal written now.
func TestTheJournalDoesNotStoreTheAPIsFieldNames(t *testing.T) {
	w := newWorld(t, "bakery-1")
	journalDay(t, w)
	for _, name := range []string{"redeemed_at", "redemption_id", "stamp_id", "reservation_id", "expires_at", "voided_at", "uses_left", "released", "actor_key_id"} {
		if journalHolds(t, w.db, name) {
			t.Errorf("the journal holds the API name %q", name)
		}
	}
}

func journalHolds(t *testing.T, db storage.Backend, name string) bool {
	t.Helper()
	found := false
	err := db.View(func(tx storage.Tx) error {
		return tx.Scan(storage.History, nil, func(_, v []byte) error {
			found = found || bytes.Contains(v, []byte(name))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
