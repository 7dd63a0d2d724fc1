package fraud

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/stampseal/stampseal/storage"
)

func TestBlock(t *testing.T) {
	m, clk, st := newMonitor(t)
	own, theirs, unissued := serial(1), serial(2), serial(3)
	// The ledger knows two serials, one of another merchant.
	err := st.Update(func(tx storage.Tx) error {
		if err := tx.Put(storage.Credentials, mustHex(t, own), ledgerRecord("bakery")); err != nil {
			return err
		}
		return tx.Put(storage.Credentials, mustHex(t, theirs), ledgerRecord("cafe"))
	})
	if err != nil {
		t.Fatal(err)
	}

	for name, tc := range map[string]struct {
		serial, reason string
		want           error
	}{
		"the merchant's own card is blocked":      {own, "copies sold online", nil},
		"an unissued serial is blocked":           {unissued, "counterfeit", nil},
		"another merchant's card is not found":    {theirs, "spite", ErrNotFound},
		"a serial in capitals is the same serial": {strings.ToUpper(own), "again", nil},
		"a serial that is not hex is refused":     {"zz" + own[2:], "x", ErrInvalid},
		"a serial of the wrong length is refused": {own[:30], "x", ErrInvalid},
		"a block without a reason is refused":     {own, "", ErrInvalid},
		"a reason longer than a note is refused":  {own, strings.Repeat("x", MaxNoteLen+1), ErrInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			if err := m.Block("bakery", tc.serial, tc.reason, "auditor-1"); !errors.Is(err, tc.want) {
				t.Errorf("Block(%s) = %v, want %v", tc.serial, err, tc.want)
			}
		})
	}
	if err := m.Block("cafe", unissued, "mine now", "cafe-auditor"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Block of a serial another merchant blocked = %v, want ErrNotFound", err)
	}

	st.View(func(tx storage.Tx) error {
		for _, c := range []struct {
			serial string
			want   bool
		}{{own, true}, {strings.ToUpper(unissued), true}, {theirs, false}} {
			if got := IsBlocked(tx, c.serial); got != c.want {
				t.Errorf("IsBlocked(%s) = %v, want %v", c.serial, got, c.want)
			}
		}
		rec, ok := ReadBlock(tx, own)
		if !ok || rec.Merchant != "bakery" || rec.By != "auditor-1" || !rec.At.Equal(clk.Now()) {
			t.Errorf("ReadBlock(own) = %+v, %v; want bakery's block by auditor-1 now", rec, ok)
		}
		return nil
	})
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ledgerRecord is a ledger record as credential.Save writes it: a CBOR map
// with a "merchant" field.
func ledgerRecord(merchant string) []byte {
	b, _ := cbor.Marshal(map[string]any{"merchant": merchant, "kind": 1})
	return b
}
