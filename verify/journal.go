package verify

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/storage"
)

// The journal is where every use of a credential and every event of a card
// is written: the History bucket, keyed by a sequence number. A write
// transaction therefore appends to one page, where keying by the random
// serial would rewrite one scattered page per credential; with fsync on,
// the number of scattered pages is what a group commit costs.
//
// What a decision must know quickly (how often a credential was used, its
// first use, its newest event, which idempotency keys were answered) is
// kept in memory by index, rebuilt from the journal when a Verifier is
// created, and changed only by committed transactions.

// event is one journal entry as the verifier works with it. It lies on
// disk as an eventRecord (journal_record.go), whose fields are numbered
// apart from the API's answer types.
type event struct {
	Serial credential.Serial
	Prev   uint64 // the serial's previous event; 0 for none
	Use    bool   // counts against the serial's uses
	Entry  Entry
	Answer *answer
	// The register's day (holds and voids): see hold.go and void.go.
	Unuse bool   // gives one use back (a voided redemption)
	Held  *held  // holds one use until Held.Until
	Ends  uint64 // the hold this event confirms (Use) or releases
	Voids uint64 // the redemption or stamp event this event voids
	Reply *reply
	// rec is a use's issuance record, for the journal feed (zero for other
	// events: every issued record names its merchant); not stored.
	rec credential.Record
}

// eventHead is the part of an eventRecord the index needs; decoding only
// it takes a fifth off reading the journal at start.
type eventHead struct {
	Serial   credential.Serial `cbor:"1,keyasint"`
	Use      bool              `cbor:"3,keyasint,omitempty"`
	OldEntry struct {
		At time.Time `cbor:"at"`
	} `cbor:"4,keyasint"`
	Answer *struct {
		Key answerKey `cbor:"1,keyasint"`
	} `cbor:"5,keyasint,omitempty"`
	Unuse bool   `cbor:"6,keyasint,omitempty"`
	Held  *held  `cbor:"7,keyasint,omitempty"`
	Ends  uint64 `cbor:"8,keyasint,omitempty"`
	Voids uint64 `cbor:"9,keyasint,omitempty"`
	Entry struct {
		At time.Time `cbor:"1,keyasint"`
	} `cbor:"11,keyasint"`
}

// at is when the event happened, whichever format wrote it.
func (h *eventHead) at() time.Time {
	if h.Entry.At.IsZero() {
		return h.OldEntry.At
	}
	return h.Entry.At
}

// answer is the first answer to a request with an idempotency key; one of
// its answers is set.
type answer struct {
	Key         answerKey
	Fingerprint string
	Redemption  *Redemption
	Stamp       *StampResult
	Reservation *Reservation
}

// answerKey identifies an idempotency key of a merchant.
type answerKey [16]byte

func keyOf(merchant, key string) answerKey {
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s%s", len(merchant), merchant, key)
	var k answerKey
	copy(k[:], h.Sum(nil))
	return k
}

// trail is what the index knows of one serial.
type trail struct {
	uses  int
	first uint64 // the first use's event
	last  uint64 // the newest event; older ones link back through Prev
}

// answered locates a remembered answer.
type answered struct {
	seq uint64
	at  time.Time
}

// index is the in-memory view of the journal. Its maps hold committed
// events only; the write transaction in progress keeps its own changes in
// an overlay that joins the maps when the transaction commits. Write
// transactions run one at a time, so one overlay suffices.
type index struct {
	mu      sync.RWMutex
	trails  map[credential.Serial]trail
	answers map[answerKey]answered
	holds   map[uint64]holdState           // by the hold's event
	open    map[credential.Serial][]uint64 // holds not ended, by serial; some may have expired. Never changed in place.
	voided  map[uint64]uint64              // voided event -> the void's event

	pending *overlay // touched only by the running write transaction and its end
	spare   *overlay // the last transaction's overlay, emptied for the next: likewise
	feed    func([]JournalEvent)
}

type overlay struct {
	ix      *index
	trails  map[credential.Serial]trail
	answers map[answerKey]answered
	holds   map[uint64]holdState
	open    map[credential.Serial][]uint64
	voided  map[uint64]uint64
	fed     []JournalEvent // this transaction's events, for the index's feed
}

func newIndex() *index {
	return &index{trails: map[credential.Serial]trail{}, answers: map[answerKey]answered{},
		holds: map[uint64]holdState{}, open: map[credential.Serial][]uint64{}, voided: map[uint64]uint64{}}
}

func newOverlay(ix *index) *overlay {
	return &overlay{ix: ix, trails: map[credential.Serial]trail{}, answers: map[answerKey]answered{},
		holds: map[uint64]holdState{}, open: map[credential.Serial][]uint64{}, voided: map[uint64]uint64{}}
}

// maxSpare bounds the events of a transaction whose overlay is kept for
// the next: emptying a map costs what it once held, so the overlay of a
// rare large one is dropped.
const maxSpare = 512

// empty readies o for the next transaction, keeping the room its maps and
// feed grew to: at a few hundred commits a second, making them again was a
// fifth of what a redemption allocated.
func (o *overlay) empty() {
	clear(o.trails)
	clear(o.answers)
	clear(o.holds)
	clear(o.open)
	clear(o.voided)
	clear(o.fed) // drop what the events point to
	o.fed = o.fed[:0]
}

var (
	eventEnc cbor.EncMode
	eventDec cbor.DecMode
)

func init() {
	var err error
	if eventEnc, err = (cbor.EncOptions{Time: cbor.TimeRFC3339Nano}).EncMode(); err != nil {
		panic(err)
	}
	if eventDec, err = (cbor.DecOptions{}).DecMode(); err != nil {
		panic(err)
	}
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// loadIndex reads the whole journal. Answers older than IdempotencyTTL at
// now are left out: they will not be given again.
func loadIndex(store storage.Backend, now time.Time) (*index, error) {
	ix := newIndex()
	cut := now.Add(-IdempotencyTTL)
	err := store.View(func(tx storage.Tx) error {
		return tx.Scan(storage.History, nil, func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("journal key %x is not a sequence number", k)
			}
			var e eventHead
			if err := eventDec.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("journal entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			seq := binary.BigEndian.Uint64(k)
			if e.Held != nil && e.Held.Until.After(cut) {
				ix.holds[seq] = holdState{serial: e.Serial, held: *e.Held}
				ix.open[e.Serial] = append(ix.open[e.Serial], seq) // loading owns every list: no copy needed
			}
			if e.Ends != 0 {
				if h, ok := ix.holds[e.Ends]; ok {
					h.end, h.confirmed = seq, e.Use
					ix.holds[e.Ends] = h
				}
				ix.setOpen(e.Serial, without(ix.open[e.Serial], e.Ends))
			}
			if e.Voids != 0 {
				ix.voided[e.Voids] = seq
			}
			ix.trails[e.Serial] = extend(ix.trails[e.Serial], seq, e.Use, e.Unuse)
			if at := e.at(); e.Answer != nil && !at.Before(cut) {
				ix.answers[e.Answer.Key] = answered{seq, at}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	return ix, nil
}

func extend(t trail, seq uint64, use, unuse bool) trail {
	if use {
		if t.uses == 0 {
			t.first = seq
		}
		t.uses++
	}
	if unuse && t.uses > 0 {
		t.uses--
	}
	t.last = seq
	return t
}

// committed is the trail of s as of the last commit. A read-only
// transaction opened after this call sees every event it names.
func (ix *index) committed(s credential.Serial) trail {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.trails[s]
}

// track returns the overlay of the write transaction tx, starting one if
// tx has none yet. Only functions running inside Update may call it.
func (ix *index) track(tx storage.Tx) *overlay {
	if ix.pending == nil {
		o := ix.spare
		if o == nil {
			o = newOverlay(ix)
		}
		ix.spare = nil
		ix.pending = o
		tx.OnEnd(func(committed bool) {
			if committed {
				ix.mu.Lock()
				for s, t := range o.trails {
					ix.trails[s] = t
				}
				for k, a := range o.answers {
					ix.answers[k] = a
				}
				for k, h := range o.holds {
					ix.holds[k] = h
				}
				for s, l := range o.open {
					ix.setOpen(s, l)
				}
				for k, v := range o.voided {
					ix.voided[k] = v
				}
				ix.mu.Unlock()
				if ix.feed != nil && len(o.fed) > 0 {
					ix.feed(o.fed)
				}
			}
			ix.pending = nil
			if len(o.fed) <= maxSpare && len(o.trails) <= maxSpare {
				o.empty()
				ix.spare = o
			}
		})
	}
	return ix.pending
}

// trail is the trail of s including this transaction's events.
func (o *overlay) trail(s credential.Serial) trail {
	if t, ok := o.trails[s]; ok {
		return t
	}
	return o.ix.committed(s)
}

// next reserves the journal position of an event, for an answer that must
// name the event (a redemption id) before the event is written.
func (o *overlay) next(tx storage.Tx) (uint64, error) {
	return tx.Sequence(storage.History)
}

// appendEvent writes e to the journal at seq, in its on-disk record form.
func appendEvent(tx storage.Tx, seq uint64, e event) error {
	rec := e.record()
	raw, err := eventEnc.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("encode journal entry: %w", err)
	}
	return tx.Put(storage.History, seqKey(seq), raw)
}

// put writes e at seq, a position from next, after the serial's newest
// event, and brings the overlay's view of holds and voids up to date.
func (o *overlay) put(tx storage.Tx, seq uint64, e event) error {
	t := o.trail(e.Serial)
	e.Prev = t.last
	if err := appendEvent(tx, seq, e); err != nil {
		return err
	}
	if e.Held != nil {
		o.holds[seq] = holdState{serial: e.Serial, held: *e.Held}
		o.open[e.Serial] = append(slices.Clone(o.openHolds(e.Serial)), seq)
	}
	if e.Ends != 0 {
		if h, ok := o.hold(e.Serial, e.Ends); ok {
			h.end, h.confirmed = seq, e.Use
			o.holds[e.Ends] = h
		}
		o.open[e.Serial] = without(o.openHolds(e.Serial), e.Ends)
	}
	if e.Voids != 0 {
		o.voided[e.Voids] = seq
	}
	o.trails[e.Serial] = extend(t, seq, e.Use, e.Unuse)
	if o.ix.feed != nil {
		o.fed = append(o.fed, JournalEvent{Seq: seq, Serial: e.Serial, Use: e.Use, Unuse: e.Unuse, Voids: e.Voids, Entry: e.Entry, Record: e.rec})
	}
	if e.Answer != nil {
		o.answers[e.Answer.Key] = answered{seq, e.Entry.At}
	}
	return nil
}

// recall returns the answer remembered for req's idempotency key, nil if
// none (or req is nil), or ErrIdempotencyReused if the key was used for a
// request other than req.
func (o *overlay) recall(tx storage.Tx, req *answer) (*answer, error) {
	if req == nil {
		return nil, nil
	}
	a, ok := o.answers[req.Key]
	if !ok {
		o.ix.mu.RLock()
		a, ok = o.ix.answers[req.Key]
		o.ix.mu.RUnlock()
	}
	if !ok {
		return nil, nil
	}
	return recallEvent(tx, a.seq, req)
}

// used is nil: this node's fraud module saw every use.
func (o *overlay) used(credential.Serial, Use) (*Use, error) { return nil, nil }

// failed is nil: the index is in memory, nothing to read can fail.
func (o *overlay) failed() error { return nil }

// forget drops remembered answers given before cut, and holds that expired
// before it, and reports how many answers it dropped. Their events stay in
// the journal as history.
func (ix *index) forget(cut time.Time) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := 0
	for k, a := range ix.answers {
		if a.at.Before(cut) {
			delete(ix.answers, k)
			n++
		}
	}
	for k, h := range ix.holds {
		if h.held.Until.Before(cut) {
			delete(ix.holds, k)
			ix.setOpen(h.serial, without(ix.open[h.serial], k))
		}
	}
	return n
}

func readEvent(tx storage.Tx, seq uint64) (event, error) {
	raw := tx.Get(storage.History, seqKey(seq))
	if raw == nil {
		return event{}, fmt.Errorf("journal entry %d: %w", seq, storage.ErrNotFound)
	}
	return decodeEvent(seq, raw)
}

// decodeEvent decodes the journal entry raw stored at seq.
func decodeEvent(seq uint64, raw []byte) (event, error) {
	var r eventRecord
	if err := eventDec.Unmarshal(raw, &r); err != nil {
		return event{}, fmt.Errorf("journal entry %d: %w", seq, err)
	}
	return r.event(), nil
}

// firstUse is the refusal for a credential with no uses left, saying when
// and where it was first used.
func firstUse(tx storage.Tx, t trail) error {
	if t.first == 0 {
		return ErrAlreadyRedeemed
	}
	e, err := readEvent(tx, t.first)
	if err != nil {
		return err
	}
	return &AlreadyRedeemedError{At: e.Entry.At, Register: e.Entry.Register}
}

// maxHistory is how many entries a status answer lists when the caller
// asks for no other page size (newest kept).
const maxHistory = 200

// named reports whether an event has an id clients can act on: a
// redemption or a stamp (to void), a hold (to confirm or release).
func named(e *event) bool {
	switch e.Entry.Op {
	case "redeem", "stamp", "reserve":
		return true
	case "claim":
		return !e.Use // the card's side of a claim, not the punch's
	}
	return false
}
