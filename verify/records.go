package verify

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/storage"
)

// On a shared backend (storage.Shared: several nodes write one etcd) the
// in-memory index would see only this node's events. There every decision
// reads what it needs inside its transaction instead: one record per
// serial in storage.Trails (its uses, first use, newest event, holds and
// voids: what the index knows of it) and one per idempotency key in
// storage.Answers (where its answer is in the journal). The transaction
// that writes an event rewrites them, so a concurrent decision on another
// node about the same serial or key conflicts with it and is re-run by
// the backend. Nothing else is written per event: no counter, no hot key.

// record is one serial's part of the journal on a shared backend.
type record struct {
	Uses  int    `cbor:"1,keyasint,omitempty"`
	First uint64 `cbor:"2,keyasint,omitempty"` // the first use's event
	Last  uint64 `cbor:"3,keyasint,omitempty"` // the newest event
	// Holds not forgotten, by their event: open ones, and ended or expired
	// ones for IdempotencyTTL after they expired (a second confirm or
	// release is answered from them, as the index does).
	Holds  map[uint64]holdRecord `cbor:"4,keyasint,omitempty"`
	Voided map[uint64]uint64     `cbor:"5,keyasint,omitempty"` // voided event -> the void's event
	// LastUse is the newest use of the serial that a register made, for
	// the fraud module: a card used at two nodes is seen by the second.
	LastUse *Use `cbor:"6,keyasint,omitempty"`
}

// holdRecord is a hold as a serial's record keeps it.
type holdRecord struct {
	Held      held   `cbor:"1,keyasint"`
	End       uint64 `cbor:"2,keyasint,omitempty"` // the event that confirmed or released it
	Confirmed bool   `cbor:"3,keyasint,omitempty"`
}

// Use is where and when a register last used a credential.
type Use struct {
	At       time.Time `cbor:"1,keyasint"`
	APIKey   string    `cbor:"2,keyasint,omitempty"`
	Register string    `cbor:"3,keyasint,omitempty"`
	Op       string    `cbor:"4,keyasint,omitempty"` // stamp, claim or redeem
}

func (r *record) trail() trail { return trail{uses: r.Uses, first: r.First, last: r.Last} }

// prefetch asks a shared backend for what a decision about serials reads
// first, all in one request: each serial's record and issuance record, and
// the record of the idempotency key (idem may be nil). Read one by one they
// were a round trip to etcd each, most of a redemption's cost beside its
// commit. On a single writer it does nothing.
func (v *Verifier) prefetch(tx storage.Tx, idem *answer, serials ...credential.Serial) {
	if v.idx != nil {
		return
	}
	keys := make([]storage.Key, 0, 2*len(serials)+1)
	for _, s := range serials {
		if s != (credential.Serial{}) {
			keys = append(keys, storage.Key{Bucket: storage.Trails, Key: s[:], Follows: storage.Credentials},
				storage.Key{Bucket: storage.Credentials, Key: s[:]})
		}
	}
	if idem != nil {
		keys = append(keys, storage.Key{Bucket: storage.Answers, Key: idem.Key[:], New: true})
	}
	storage.Prefetch(tx, keys...)
}

func loadRecord(tx storage.Tx, s credential.Serial) (*record, error) {
	r := &record{}
	raw := tx.Get(storage.Trails, s[:])
	if raw == nil {
		return r, nil
	}
	if err := eventDec.Unmarshal(raw, r); err != nil {
		return nil, fmt.Errorf("trail of %s: %w", s, err)
	}
	return r, nil
}

// records is the tracker of one write transaction on a shared backend.
type records struct {
	tx   storage.Tx
	now  time.Time
	read map[credential.Serial]*record // read or written by this transaction
	err  error
}

func newRecords(tx storage.Tx, now time.Time) *records {
	return &records{tx: tx, now: now, read: map[credential.Serial]*record{}}
}

// of returns the record of s as this transaction sees it; a zero record
// after a failure, which failed then reports.
func (o *records) of(s credential.Serial) *record {
	if r, ok := o.read[s]; ok {
		return r
	}
	r, err := loadRecord(o.tx, s)
	if err != nil {
		if o.err == nil {
			o.err = err
		}
		r = &record{}
	}
	o.read[s] = r
	return r
}

func (o *records) failed() error { return o.err }

func (o *records) trail(s credential.Serial) trail { return o.of(s).trail() }

func (o *records) openHolds(s credential.Serial) []uint64 {
	var out []uint64
	for seq, h := range o.of(s).Holds {
		if h.End == 0 {
			out = append(out, seq)
		}
	}
	return out
}

func (o *records) hold(s credential.Serial, seq uint64) (holdState, bool) {
	h, ok := o.of(s).Holds[seq]
	if !ok {
		return holdState{}, false
	}
	return holdState{serial: s, held: h.Held, end: h.End, confirmed: h.Confirmed}, true
}

func (o *records) voidOf(s credential.Serial, seq uint64) (uint64, bool) {
	v, ok := o.of(s).Voided[seq]
	return v, ok
}

func (o *records) next(tx storage.Tx) (uint64, error) { return tx.Sequence(storage.History) }

func (o *records) put(tx storage.Tx, seq uint64, e event) error {
	if o.err != nil {
		return o.err
	}
	old := o.of(e.Serial)
	if o.err != nil {
		return o.err
	}
	r := *old // a copy: a failed put leaves what was read
	r.Holds, r.Voided = maps.Clone(r.Holds), maps.Clone(r.Voided)
	e.Prev = r.Last
	if err := appendEvent(tx, seq, e); err != nil {
		return err
	}
	if e.Held != nil {
		if r.Holds == nil {
			r.Holds = map[uint64]holdRecord{}
		}
		r.Holds[seq] = holdRecord{Held: *e.Held}
	}
	if h, ok := r.Holds[e.Ends]; ok && e.Ends != 0 {
		h.End, h.Confirmed = seq, e.Use
		r.Holds[e.Ends] = h
	}
	cut := o.now.Add(-IdempotencyTTL)
	for k, h := range r.Holds {
		if h.Held.Until.Before(cut) {
			delete(r.Holds, k)
		}
	}
	if e.Voids != 0 {
		if r.Voided == nil {
			r.Voided = map[uint64]uint64{}
		}
		r.Voided[e.Voids] = seq
	}
	t := extend(r.trail(), seq, e.Use, e.Unuse)
	r.Uses, r.First, r.Last = t.uses, t.first, t.last
	if e.Answer != nil {
		if err := tx.Put(storage.Answers, e.Answer.Key[:], answerAt(seq, e.Entry.At)); err != nil {
			return err
		}
	}
	raw, err := eventEnc.Marshal(&r)
	if err != nil {
		return fmt.Errorf("encode trail of %s: %w", e.Serial, err)
	}
	if err := tx.Put(storage.Trails, e.Serial[:], raw); err != nil {
		return err
	}
	o.read[e.Serial] = &r
	return nil
}

// used notes that a register used s now, and returns the use before it,
// if the record knows one.
func (o *records) used(s credential.Serial, u Use) (*Use, error) {
	r := o.of(s)
	if o.err != nil {
		return nil, o.err
	}
	prev := r.LastUse
	c := *r
	c.LastUse = &u
	raw, err := eventEnc.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode trail of %s: %w", s, err)
	}
	if err := o.tx.Put(storage.Trails, s[:], raw); err != nil {
		return nil, err
	}
	o.read[s] = &c
	return prev, nil
}

func (o *records) recall(tx storage.Tx, req *answer) (*answer, error) {
	if req == nil {
		return nil, nil
	}
	seq, at, ok := readAnswerAt(tx.Get(storage.Answers, req.Key[:]))
	if !ok || at.Before(o.now.Add(-IdempotencyTTL)) {
		return nil, nil
	}
	return recallEvent(tx, seq, req)
}

// answerAt is the value of an idempotency key's record: the event holding
// its answer and when it was given.
func answerAt(seq uint64, at time.Time) []byte {
	b := binary.BigEndian.AppendUint64(nil, seq)
	return binary.BigEndian.AppendUint64(b, uint64(at.UnixNano()))
}

func readAnswerAt(raw []byte) (seq uint64, at time.Time, ok bool) {
	if len(raw) != 16 {
		return 0, time.Time{}, false
	}
	return binary.BigEndian.Uint64(raw), time.Unix(0, int64(binary.BigEndian.Uint64(raw[8:]))), true
}

// forgetAnswers deletes, on a shared backend, the answer records given
// before cut, a batch per transaction (etcd bounds a transaction's
// operations), and reports how many it deleted.
func forgetAnswers(store storage.Backend, cut time.Time) (int, error) {
	const batch = 100
	n := 0
	for {
		var old [][]byte
		err := store.View(func(tx storage.Tx) error {
			old = old[:0]
			return tx.Scan(storage.Answers, nil, func(k, v []byte) error {
				if _, at, ok := readAnswerAt(v); !ok || at.Before(cut) {
					old = append(old, bytes.Clone(k))
				}
				if len(old) == batch {
					return errBatchFull
				}
				return nil
			})
		})
		if err != nil && !errors.Is(err, errBatchFull) {
			return n, err
		}
		if len(old) == 0 {
			return n, nil
		}
		err = store.Update(func(tx storage.Tx) error {
			for _, k := range old {
				// Re-read: another node may have given the key again since.
				if _, at, ok := readAnswerAt(tx.Get(storage.Answers, k)); ok && !at.Before(cut) {
					continue
				}
				if err := tx.Delete(storage.Answers, k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		n += len(old)
		if len(old) < batch {
			return n, nil
		}
	}
}

var errBatchFull = errors.New("batch full")

// recordsMark in storage.Meta says that the per-serial records of a shared
// backend cover the whole journal.
var recordsMark = []byte("verify-records")

// ErrRecordsMissing is returned by New on a shared backend whose journal
// was written without the per-serial records (copied from a bbolt
// ledger): deciding without them could spend a used coupon again. Run
// BuildRecords once.
var ErrRecordsMissing = errors.New("verify: the journal has no per-serial records: run BuildRecords (stampseal migrate does)")

// checkRecords makes sure that the records cover the journal: an empty
// journal is marked as covered, a journal without the mark is refused.
func checkRecords(store storage.Backend) error {
	marked, empty := false, true
	err := store.View(func(tx storage.Tx) error {
		marked = tx.Get(storage.Meta, recordsMark) != nil
		if marked {
			return nil
		}
		err := tx.Scan(storage.History, nil, func(_, _ []byte) error { return errBatchFull })
		empty = err == nil
		if errors.Is(err, errBatchFull) {
			return nil
		}
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("check journal records: %w", err)
	case marked:
		return nil
	case !empty:
		return ErrRecordsMissing
	}
	return store.Update(func(tx storage.Tx) error {
		if tx.Get(storage.Meta, recordsMark) != nil {
			return nil
		}
		// Another node may have journaled meanwhile, with records.
		return tx.Put(storage.Meta, recordsMark, []byte("1"))
	})
}

// BuildRecords writes the per-serial records and the idempotency records a
// shared backend decides from, read from the whole journal of store (after
// copying a bbolt ledger into etcd, before any node serves it), and marks
// the journal as covered. It writes a bounded batch per transaction.
func BuildRecords(store storage.Backend, now time.Time) error {
	ix, err := loadIndex(store, now)
	if err != nil {
		return err
	}
	recs := make(map[credential.Serial]*record, len(ix.trails))
	for s, t := range ix.trails {
		recs[s] = &record{Uses: t.uses, First: t.first, Last: t.last}
	}
	for seq, h := range ix.holds {
		r := recs[h.serial]
		if r.Holds == nil {
			r.Holds = map[uint64]holdRecord{}
		}
		r.Holds[seq] = holdRecord{Held: h.held, End: h.end, Confirmed: h.confirmed}
	}
	err = store.View(func(tx storage.Tx) error {
		for voided, void := range ix.voided {
			e, err := readEvent(tx, void)
			if err != nil {
				return err
			}
			r := recs[e.Serial]
			if r.Voided == nil {
				r.Voided = map[uint64]uint64{}
			}
			r.Voided[voided] = void
		}
		return nil
	})
	if err != nil {
		return err
	}
	const batch = 50
	serials := slices.Collect(maps.Keys(recs))
	for len(serials) > 0 {
		n := min(batch, len(serials))
		part := serials[:n]
		serials = serials[n:]
		err := store.Update(func(tx storage.Tx) error {
			for _, s := range part {
				raw, err := eventEnc.Marshal(recs[s])
				if err != nil {
					return err
				}
				if err := tx.Put(storage.Trails, s[:], raw); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("write journal records: %w", err)
		}
	}
	keys := slices.Collect(maps.Keys(ix.answers))
	for len(keys) > 0 {
		n := min(batch, len(keys))
		part := keys[:n]
		keys = keys[n:]
		err := store.Update(func(tx storage.Tx) error {
			for _, k := range part {
				a := ix.answers[k]
				if err := tx.Put(storage.Answers, k[:], answerAt(a.seq, a.at)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("write idempotency records: %w", err)
		}
	}
	return store.Update(func(tx storage.Tx) error { return tx.Put(storage.Meta, recordsMark, []byte("1")) })
}
