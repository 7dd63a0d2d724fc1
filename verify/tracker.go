package verify

import (
	"fmt"
	"slices"
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/storage"
)

// tracker is what a write transaction knows of the journal: each serial's
// trail, holds and voids, and the remembered answers, this transaction's
// own events included. On a backend with one writer (bbolt) the in-memory
// index answers (overlay, journal.go); on a shared backend (etcd), where
// other nodes write too, the per-serial records that the transaction
// itself reads and writes (records, records.go), so that the backend
// re-runs the transaction when another node changed them first.
type tracker interface {
	// trail is the trail of s.
	trail(s credential.Serial) trail
	// openHolds lists the holds of s not yet ended (some may have
	// expired). The list is shared: never change it in place.
	openHolds(s credential.Serial) []uint64
	// hold returns the hold of s whose event is seq.
	hold(s credential.Serial, seq uint64) (holdState, bool)
	// voidOf finds the event that voided the event seq of s, if any.
	voidOf(s credential.Serial, seq uint64) (uint64, bool)
	// next reserves the journal position of an event, for an answer that
	// must name the event (a redemption id) before the event is written.
	next(tx storage.Tx) (uint64, error)
	// put writes e at seq, a position from next, after the serial's newest
	// event, and brings what the tracker knows up to date.
	put(tx storage.Tx, seq uint64, e event) error
	// recall returns the answer remembered for req's idempotency key, nil
	// if none (or req is nil), or ErrIdempotencyReused if the key was used
	// for a request other than req.
	recall(tx storage.Tx, req *answer) (*answer, error)
	// used records that a register used s (on a shared backend, where the
	// fraud module of another node needs it) and returns the use before,
	// if known; nil on a single writer, whose fraud module saw every use.
	used(s credential.Serial, u Use) (*Use, error)
	// failed is the first failure to read what the tracker needed; the
	// transaction must not commit after one.
	failed() error
}

// journal is the tracker of one write transaction, with the rules built on
// it that do not depend on where the tracker keeps its knowledge.
type journal struct{ tracker }

// begin returns the tracker of the write transaction tx.
func (v *Verifier) begin(tx storage.Tx) journal {
	if v.idx == nil {
		return journal{newRecords(tx, v.now())}
	}
	return journal{v.idx.track(tx)}
}

// append writes e to the journal after the serial's newest event.
func (o journal) append(tx storage.Tx, e event) error {
	seq, err := o.next(tx)
	if err != nil {
		return err
	}
	return o.put(tx, seq, e)
}

// live lists the holds of s that are open at now, soonest to expire first,
// leaving out the hold except.
func (o journal) live(s credential.Serial, now time.Time, except uint64) []holdState {
	var out []holdState
	for _, seq := range o.openHolds(s) {
		if h, ok := o.hold(s, seq); ok && seq != except && h.end == 0 && now.Before(h.held.Until) {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b holdState) int { return a.held.Until.Compare(b.held.Until) })
	return out
}

// trailOf is the committed trail of s for a read-only transaction: pre,
// the index's trail taken before tx began, on a single writer; the
// serial's record as tx reads it on a shared backend.
func (v *Verifier) trailOf(tx storage.Tx, s credential.Serial, pre trail) (trail, error) {
	if v.idx != nil {
		return pre, nil
	}
	r, err := loadRecord(tx, s)
	if err != nil {
		return trail{}, err
	}
	return r.trail(), nil
}

// committed is the trail of s as of the last commit, for a read-only
// transaction begun after this call; zero on a shared backend, where
// trailOf reads it inside the transaction.
func (v *Verifier) committed(s credential.Serial) trail {
	if v.idx == nil {
		return trail{}
	}
	return v.idx.committed(s)
}

// heldNow counts the open holds of s at now as a read-only transaction
// sees them.
func (v *Verifier) heldNow(tx storage.Tx, s credential.Serial, now time.Time) (int, error) {
	if v.idx != nil {
		return v.idx.committedHolds(s, now), nil
	}
	r, err := loadRecord(tx, s)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, h := range r.Holds {
		if h.End == 0 && now.Before(h.Held.Until) {
			n++
		}
	}
	return n, nil
}

// recallEvent reads the event an index or record names as holding req's
// answer and checks that it is req's.
func recallEvent(tx storage.Tx, seq uint64, req *answer) (*answer, error) {
	e, err := readEvent(tx, seq)
	if err != nil {
		return nil, err
	}
	if e.Answer == nil || e.Answer.Key != req.Key {
		return nil, fmt.Errorf("journal entry %d does not hold the answer the index names", seq)
	}
	if e.Answer.Fingerprint != req.Fingerprint {
		return nil, ErrIdempotencyReused
	}
	return e.Answer, nil
}
