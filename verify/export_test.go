package verify

import (
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/storage"
)

// legacyEvent is the journal event as it was written before the journal
// had its own record types: the API's answer types, whose JSON tags the
// CBOR library fell back to. Kept to write a ledger of that time.
type legacyEvent struct {
	Serial credential.Serial `cbor:"1,keyasint"`
	Prev   uint64            `cbor:"2,keyasint,omitempty"`
	Use    bool              `cbor:"3,keyasint,omitempty"`
	Entry  Entry             `cbor:"4,keyasint"`
	Answer *legacyAnswer     `cbor:"5,keyasint,omitempty"`
	Unuse  bool              `cbor:"6,keyasint,omitempty"`
	Held   *held             `cbor:"7,keyasint,omitempty"`
	Ends   uint64            `cbor:"8,keyasint,omitempty"`
	Voids  uint64            `cbor:"9,keyasint,omitempty"`
	Reply  *legacyReplyOf    `cbor:"10,keyasint,omitempty"`
}

type legacyAnswer struct {
	Key         answerKey    `cbor:"1,keyasint"`
	Fingerprint string       `cbor:"2,keyasint"`
	Redemption  *Redemption  `cbor:"3,keyasint,omitempty"`
	Stamp       *StampResult `cbor:"4,keyasint,omitempty"`
	Reservation *Reservation `cbor:"5,keyasint,omitempty"`
}

type legacyReplyOf struct {
	Redemption *Redemption `cbor:"1,keyasint,omitempty"`
	Void       *Void       `cbor:"2,keyasint,omitempty"`
	StampVoid  *StampVoid  `cbor:"3,keyasint,omitempty"`
	Released   *Released   `cbor:"4,keyasint,omitempty"`
}

// RewriteJournalAsLegacy rewrites every journal event of store in the
// format of ledgers written before the record types, and reports how many
// it rewrote.
func RewriteJournalAsLegacy(store storage.Backend) (int, error) {
	n := 0
	err := store.Update(func(tx storage.Tx) error {
		for seq := uint64(1); ; seq++ {
			if tx.Get(storage.History, seqKey(seq)) == nil {
				return nil
			}
			e, err := readEvent(tx, seq)
			if err != nil {
				return err
			}
			old := legacyEvent{Serial: e.Serial, Prev: e.Prev, Use: e.Use, Entry: e.Entry, Unuse: e.Unuse,
				Held: e.Held, Ends: e.Ends, Voids: e.Voids}
			if a := e.Answer; a != nil {
				old.Answer = &legacyAnswer{a.Key, a.Fingerprint, a.Redemption, a.Stamp, a.Reservation}
			}
			if r := e.Reply; r != nil {
				old.Reply = &legacyReplyOf{r.Redemption, r.Void, r.StampVoid, r.Released}
			}
			raw, err := eventEnc.Marshal(&old)
			if err != nil {
				return err
			}
			if err := tx.Put(storage.History, seqKey(seq), raw); err != nil {
				return err
			}
			n++
		}
	})
	return n, err
}
