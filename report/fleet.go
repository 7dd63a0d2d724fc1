package report

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2/roaring64"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

// On a shared backend (storage.Shared: several nodes on one etcd) this
// node's events are a part of the whole, and the journal's sequence
// numbers come from per-node blocks (gaps; not in commit order), so the
// Book cannot follow the journal by counting up. There it follows the
// ledger itself, through the backend's watch:
//
//   - journal events: every new History key is folded in once (applied
//     remembers which were: a bit per sequence number, which come in
//     blocks of one counter, so that the set stays small however long the
//     node runs), from the value the watch delivered where the backend
//     delivers values (storage.ValueWatcher), else read again;
//   - issuances: every new issuance record in storage.Credentials, of any
//     node, instead of this node's issue events; where the watch delivers
//     the record, the coupon's is kept (known) for its redemptions, which
//     then need no read of it on every node;
//   - refusals: each node adds what it saw to the day's record in
//     storage.Report inside a transaction, and takes the others' additions
//     from the watch.

// fleet is the Book's state on a shared backend.
type fleet struct {
	applied *roaring64.Bitmap                  // journal events folded in
	coupons map[credential.Serial]bool         // coupons counted as issued
	stored  map[string]map[int32]refusalRecord // refusals as storage.Report holds them

	mu      sync.Mutex // guards the queues below, filled by the watches
	events  []watched
	records []watched // key (as seq 0) and record of storage.Credentials
	reports [][]byte
	lost    bool // a watch lost its connection: read everything again
}

// watched is a journal event a watch reported: its sequence number, and
// its value when the watch delivered it (nil: read it).
type watched struct {
	seq uint64
	key []byte // for an issuance record
	raw []byte
}

func newFleet() *fleet {
	return &fleet{applied: roaring64.New(), coupons: map[credential.Serial]bool{},
		stored: map[string]map[int32]refusalRecord{}, lost: true}
}

// Follow makes the Book count what every node of a shared backend does,
// from now until ctx ends; on any other backend it does nothing (the Book
// follows the journal itself). Call it before the Book answers: it reads
// the whole ledger again once its watches run.
func (b *Book) Follow(ctx context.Context) error {
	sh, ok := b.store.(storage.Shared)
	if !ok {
		return nil
	}
	f := b.fleet
	// Every node's Book folds in every change: taking the value from the
	// watch, which receives it anyway, spares a read of it per change and
	// node.
	watch := func(bucket storage.Bucket, fn func(k, v []byte)) error {
		if vw, ok := sh.(storage.ValueWatcher); ok {
			return vw.WatchValues(ctx, bucket, fn)
		}
		return sh.Watch(ctx, bucket, func(k []byte) { fn(k, nil) })
	}
	// A change is folded in by the next catch-up: Run's tick, or Stats,
	// which catches up by itself. Run is woken early only to bound the
	// queues (a catch-up per change was a linearizable read and two scans
	// per change and node).
	heard := func(add func(k, v []byte)) func(k, v []byte) {
		return func(k, v []byte) {
			f.mu.Lock()
			if k == nil {
				f.lost = true
			} else {
				add(k, v)
			}
			long := f.lost || len(f.events)+len(f.records)+len(f.reports) >= maxPending
			f.mu.Unlock()
			if long {
				b.poke()
			}
		}
	}
	err := watch(storage.History, heard(func(k, v []byte) {
		if len(k) == 8 {
			f.events = append(f.events, watched{seq: binary.BigEndian.Uint64(k), raw: bytes.Clone(v)})
		}
	}))
	if err == nil {
		err = watch(storage.Credentials, heard(func(k, v []byte) {
			f.records = append(f.records, watched{key: bytes.Clone(k), raw: bytes.Clone(v)})
		}))
	}
	if err == nil {
		err = watch(storage.Report, heard(func(k, _ []byte) { f.reports = append(f.reports, bytes.Clone(k)) }))
	}
	if err != nil {
		return fmt.Errorf("follow the ledger for the owner's figures: %w", err)
	}
	// What committed before the watches ran: read all once more.
	f.mu.Lock()
	f.lost = true
	f.mu.Unlock()
	return b.CatchUp()
}

// heard is what the watches reported since the last catch-up, taken
// before the catch-up's snapshot: a watch reports a change once it is
// committed, so the snapshot holds every change named here (taken inside
// it, a change committed after the snapshot began was read as absent, and
// lost, where the watch delivers keys without values).
type heard struct {
	events, records []watched
	reports         [][]byte
	all             bool // a watch could not tell what it missed: read everything
}

// take empties the queues.
func (f *fleet) take() heard {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := heard{events: f.events, records: f.records, reports: f.reports, all: f.lost}
	f.events, f.records, f.reports, f.lost = nil, nil, nil, false
	return h
}

// followFleet folds in, on a shared backend, what the watches reported
// (h), or the whole ledger after a watch that could not tell what it
// missed (or when the Book is built). Called with b.mu held.
func (b *Book) followFleet(tx storage.Tx, h heard) error {
	f := b.fleet
	events, records, reports := h.events, h.records, h.reports
	if h.all {
		events, records, reports = nil, nil, nil
		err := tx.Scan(storage.History, nil, func(k, v []byte) error {
			if len(k) == 8 {
				events = append(events, watched{seq: binary.BigEndian.Uint64(k), raw: bytes.Clone(v)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := tx.Scan(storage.Credentials, nil, func(k, v []byte) error {
			records = append(records, watched{key: bytes.Clone(k), raw: bytes.Clone(v)})
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Scan(storage.Report, nil, func(k, _ []byte) error {
			reports = append(reports, bytes.Clone(k))
			return nil
		}); err != nil {
			return err
		}
	}
	// Each record and event below would be a round trip to etcd of its
	// own: ask for them in batches first (storage.Prefetch).
	var want []storage.Key
	recs := make([]*credential.Record, len(records))
	for i, r := range records {
		if len(r.key) != len(credential.Serial{}) {
			continue
		}
		s := credential.Serial(r.key)
		if r.raw != nil {
			if rec, err := credential.Decode(r.raw); err == nil {
				recs[i] = &rec
			}
		}
		b.learn(s, recs[i]) // as the watch delivered it
		if recs[i] == nil && b.cards[s] == nil && !f.coupons[s] {
			want = append(want, storage.Key{Bucket: storage.Credentials, Key: r.key})
		}
	}
	storage.Prefetch(tx, want...)
	for i, r := range records {
		if len(r.key) == len(credential.Serial{}) {
			if err := b.issuedRecord(tx, credential.Serial(r.key), recs[i]); err != nil {
				return err
			}
		}
	}
	want = want[:0]
	for _, w := range events {
		if w.raw == nil && !f.applied.Contains(w.seq) {
			want = append(want, storage.Key{Bucket: storage.History, Key: binary.BigEndian.AppendUint64(nil, w.seq)})
		}
	}
	storage.Prefetch(tx, want...)
	var found []verify.JournalEvent
	for _, w := range events {
		if f.applied.Contains(w.seq) {
			continue
		}
		var e verify.JournalEvent
		var err error
		if w.raw != nil {
			e, err = verify.DecodeJournalEvent(w.seq, w.raw)
		} else {
			e, err = verify.JournalEventAt(tx, w.seq)
		}
		if errors.Is(err, storage.ErrNotFound) {
			continue // deleted since the watch reported it
		}
		if err != nil {
			return err
		}
		f.applied.Add(w.seq)
		found = append(found, e)
	}
	if len(found) > 0 {
		f.applied.RunOptimize() // runs of sequence numbers: a few bytes each
	}
	// The issuance records the events name (what a redemption was worth).
	want = want[:0]
	for i := range found {
		if b.knownRecord(found[i].Serial) == nil {
			want = append(want, storage.Key{Bucket: storage.Credentials, Key: found[i].Serial[:]})
		}
	}
	storage.Prefetch(tx, want...)
	for i := range found {
		b.events++
		if err := b.apply(tx, &found[i]); err != nil {
			return err
		}
	}
	for _, k := range reports {
		if err := b.reloadRefusals(tx, k); err != nil {
			return err
		}
	}
	return nil
}

// issuedRecord counts the credential s as issued, once: rec as a watch
// delivered it, or read when rec is nil.
func (b *Book) issuedRecord(tx storage.Tx, s credential.Serial, rec *credential.Record) error {
	if b.cards[s] != nil || b.fleet.coupons[s] {
		return nil
	}
	if rec == nil {
		r, err := credential.Load(tx, s[:])
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		rec = &r
	}
	if rec.Kind == credential.KindCard || rec.Kind == credential.KindCoupon {
		b.issued(s, rec)
		b.events++
	}
	return nil
}

// reloadRefusals takes the day record stored under k, as another node
// (or this one) wrote it, keeping what this node saw and has not written.
func (b *Book) reloadRefusals(tx storage.Tx, k []byte) error {
	merchant, n, ok := parseRefusalKey(k)
	if !ok {
		return nil
	}
	var r refusalRecord
	if raw := tx.Get(storage.Report, k); raw != nil {
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("report record %q: %w", k, err)
		}
	}
	d := b.day(merchant, dayStart(n))
	old := b.fleet.storedOf(merchant, n)
	// d = what is stored now + (what this node holds - what was stored)
	refused := clone(r.Refused)
	for reason, c := range d.refused {
		refused[reason] += c - old.Refused[reason]
	}
	value := cloneMoney(r.Value)
	value.plus(d.refusedValue, 1)
	value.plus(old.Value, -1)
	d.refused, d.refusedValue = refused, value
	b.fleet.setStored(merchant, n, refusalRecord{Refused: clone(r.Refused), Value: cloneMoney(r.Value)})
	return nil
}

func parseRefusalKey(k []byte) (string, int32, bool) {
	merchant, date, ok := strings.Cut(string(k), "/refused/")
	if !ok {
		return "", 0, false
	}
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return "", 0, false
	}
	return merchant, dayOf(t), true
}

func (f *fleet) storedOf(merchant string, n int32) refusalRecord {
	return f.stored[merchant][n]
}

func (f *fleet) setStored(merchant string, n int32, r refusalRecord) {
	if f.stored[merchant] == nil {
		f.stored[merchant] = map[int32]refusalRecord{}
	}
	f.stored[merchant][n] = r
}

// saveFleetRefusals adds, in one transaction, what this node saw since the
// last write to each changed day's record, over what other nodes added
// meanwhile. Called with b.mu held.
func (b *Book) saveFleetRefusals() error {
	type change struct {
		merchant string
		n        int32
		add      refusalRecord
		now      refusalRecord // written
	}
	var changes []*change
	for merchant, days := range b.dirty {
		for n := range days {
			d := b.merchants[merchant].days[n]
			old := b.fleet.storedOf(merchant, n)
			add := refusalRecord{Refused: map[string]int{}, Value: cloneMoney(d.refusedValue)}
			add.Value.plus(old.Value, -1)
			for reason, c := range d.refused {
				if c != old.Refused[reason] {
					add.Refused[reason] = c - old.Refused[reason]
				}
			}
			changes = append(changes, &change{merchant: merchant, n: n, add: add})
		}
	}
	err := b.store.Update(func(tx storage.Tx) error {
		for _, c := range changes {
			k := refusalKey(c.merchant, c.n)
			var r refusalRecord
			if raw := tx.Get(storage.Report, k); raw != nil {
				if err := json.Unmarshal(raw, &r); err != nil {
					return fmt.Errorf("report record %q: %w", k, err)
				}
			}
			r.Refused = clone(r.Refused)
			for reason, n := range c.add.Refused {
				r.Refused[reason] += n
			}
			r.Value = cloneMoney(r.Value)
			r.Value.plus(c.add.Value, 1)
			c.now = r
			if err := storage.PutJSON(tx, storage.Report, k, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write refusals: %w", err)
	}
	for _, c := range changes {
		d := b.merchants[c.merchant].days[c.n]
		d.refused, d.refusedValue = clone(c.now.Refused), cloneMoney(c.now.Value)
		b.fleet.setStored(c.merchant, c.n, c.now)
	}
	b.dirty = map[string]map[int32]bool{}
	return nil
}
