package verify

import (
	"fmt"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/storage"
)

// JournalEvent is one committed event of the journal as readers outside
// this package see it: the credential it is about, whether it counted as a
// use, and its history entry. The remembered answer is not shown.
type JournalEvent struct {
	Seq    uint64
	Serial credential.Serial
	Use    bool   // counts against the serial's uses
	Unuse  bool   // gives one use back (a voided redemption)
	Voids  uint64 // the redemption or stamp event this event voids
	Entry  Entry
	// Record is, on a use from the journal feed (WithJournalFeed), the
	// issuance record the use was checked against: what a reader would
	// otherwise load. Zero (no Merchant) on events read from the journal.
	// A value, so that feeding it allocates nothing.
	Record credential.Record
}

// JournalEventAt reads the journal event with sequence number seq.
func JournalEventAt(tx storage.Tx, seq uint64) (JournalEvent, error) {
	e, err := readEvent(tx, seq)
	if err != nil {
		return JournalEvent{}, err
	}
	return JournalEvent{Seq: seq, Serial: e.Serial, Use: e.Use, Unuse: e.Unuse, Voids: e.Voids, Entry: e.Entry}, nil
}

// DecodeJournalEvent decodes the journal event stored under sequence
// number seq (as a watch delivers it, without reading it again).
func DecodeJournalEvent(seq uint64, raw []byte) (JournalEvent, error) {
	var r eventRecord
	if err := eventDec.Unmarshal(raw, &r); err != nil {
		return JournalEvent{}, fmt.Errorf("journal entry %d: %w", seq, err)
	}
	e := r.event()
	return JournalEvent{Seq: seq, Serial: e.Serial, Use: e.Use, Unuse: e.Unuse, Voids: e.Voids, Entry: e.Entry}, nil
}

// ReadJournal calls fn, inside tx, for every journal event after sequence
// number after, in commit order, and returns the last sequence number read
// (after itself when there is nothing new). Sequence numbers of committed
// events have no gaps: a rolled-back transaction rolls its numbers back.
func ReadJournal(tx storage.Tx, after uint64, fn func(JournalEvent) error) (uint64, error) {
	for seq := after + 1; ; seq++ {
		raw := tx.Get(storage.History, seqKey(seq))
		if raw == nil {
			return seq - 1, nil
		}
		e, err := decodeEvent(seq, raw)
		if err != nil {
			return seq - 1, err
		}
		if err := fn(JournalEvent{Seq: seq, Serial: e.Serial, Use: e.Use, Unuse: e.Unuse, Voids: e.Voids, Entry: e.Entry}); err != nil {
			return seq - 1, err
		}
	}
}
