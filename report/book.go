package report

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/internal/runq"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

// maxPending bounds the events waiting to be folded in; past it, Observe
// asks for a catch-up at once.
const maxPending = 4096

// Book is the owner's figures of every merchant, kept in memory in step
// with the ledger. It is safe for concurrent use.
type Book struct {
	store storage.Backend
	now   func() time.Time

	inbox   sync.Mutex
	pending []fraud.Event
	fed     []verify.JournalEvent // committed journal events, from the verifier's feed (Committed)
	wake    chan struct{}
	// The last catch-up's emptied inboxes, taken as the next ones: a
	// catch-up runs every few milliseconds under load, and growing new
	// ones each time was a tenth of what a redemption allocated.
	sparePending []fraud.Event
	spareFed     []verify.JournalEvent

	mu        sync.Mutex
	journal   uint64 // the last journal event folded in
	merchants map[string]*merchantBook
	cards     map[credential.Serial]*card
	alerts    map[string]bool   // storage keys of alerts counted
	blocks    map[string]string // blocked serial -> merchant
	dirty     map[string]map[int32]bool
	events    int // journal events and observed events folded in, for the rebuild command
	// known and knownBefore hold recent coupons' records, without their
	// codes, as the Book met them at issuance, so that their redemptions
	// are counted without reading them again (learn). What the figures
	// use of a record does not change after issuance.
	known, knownBefore map[credential.Serial]*credential.Record
	fleet              *fleet // on a shared backend (fleet.go); nil otherwise
}

// merchantBook is one merchant's days, the number of its cards, and the
// scratch space a stats request uses (under the Book's lock).
type merchantBook struct {
	days   map[int32]*day
	ncards int32
	scratch
}

// card is what the Book keeps of one stamp card: its merchant and its
// number among the merchant's cards, which the days' visits name.
type card struct {
	merchant string
	idx      int32
}

// Option configures a Book.
type Option func(*Book)

// WithClock replaces the clock, for tests.
func WithClock(now func() time.Time) Option { return func(b *Book) { b.now = now } }

// Open builds the Book from the ledger in store: every issuance record,
// the whole journal, alerts, blocks and the refusals kept in
// storage.Report. On a shared backend the first catch-up does.
func Open(store storage.Backend, opts ...Option) (*Book, error) {
	b := &Book{store: store, now: time.Now, wake: make(chan struct{}, 1),
		merchants: map[string]*merchantBook{}, cards: map[credential.Serial]*card{}, known: map[credential.Serial]*credential.Record{},
		alerts: map[string]bool{}, blocks: map[string]string{}, dirty: map[string]map[int32]bool{}}
	for _, o := range opts {
		o(b)
	}
	if storage.IsShared(store) {
		// The first catch-up reads the whole ledger (the fleet starts
		// lost): Follow's, before the node serves, or the first Stats.
		// Reading it here too would read it twice as the node starts.
		b.fleet = newFleet()
		return b, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	err := store.View(func(tx storage.Tx) error {
		if err := b.loadIssued(tx); err != nil {
			return err
		}
		if err := b.loadRefusals(tx); err != nil {
			return err
		}
		return b.follow(tx, heard{}, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("rebuild the owner's figures: %w", err)
	}
	return b, nil
}

// Observe takes an event of a decision or an issuance; it is folded in by
// the next catch-up. It never blocks on the ledger.
func (b *Book) Observe(ev fraud.Event) {
	if b == nil || !counts(&ev) {
		return
	}
	b.inbox.Lock()
	b.pending = append(b.pending, ev)
	full := len(b.pending) >= maxPending
	b.inbox.Unlock()
	if full {
		b.poke()
	}
}

// Committed takes the journal events of one commit, as the verifier's feed
// (verify.WithJournalFeed) gives them, so that the next catch-up counts
// them without reading and decoding the journal. Events it cannot keep
// (more than maxFed wait) are dropped: the catch-up then finds a gap and
// reads them from the journal. It never blocks on the ledger.
func (b *Book) Committed(evs []verify.JournalEvent) {
	b.inbox.Lock()
	if len(b.fed)+len(evs) > maxFed {
		b.fed = b.fed[:0]
	}
	b.fed = append(b.fed, evs...)
	full := len(b.fed) >= maxPending
	b.inbox.Unlock()
	if full {
		b.poke()
	}
}

// poke asks Run for a catch-up now: many events wait.
func (b *Book) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// maxFed bounds the fed journal events kept for the next catch-up.
const maxFed = 4 * maxPending

// counts says whether the Book needs ev: issuance, and refused uses.
func counts(ev *fraud.Event) bool {
	switch {
	case ev.Op == fraud.OpIssue:
		return ev.Result == fraud.ResultOK && ev.Serial != ""
	case ev.Op == fraud.OpRedeem || ev.Op == fraud.OpStamp || ev.Op == fraud.OpClaim:
		return ev.Result != fraud.ResultOK && ev.Result != fraud.ReasonError && !ev.Retry && ev.Merchant != ""
	}
	return false
}

// Run catches up every interval until stop is closed, and at once when
// many events wait. Stats catches up by itself; Run bounds memory and
// writes refusals to the ledger soon after they happen.
func (b *Book) Run(stop <-chan struct{}, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			if err := b.CatchUp(); err != nil && onErr != nil {
				onErr(err)
			}
			return
		case <-t.C:
		case <-b.wake:
		}
		if err := b.CatchUp(); err != nil && onErr != nil {
			onErr(err)
		}
	}
}

// CatchUp folds in the events observed so far and the journal events
// committed since the last catch-up, then writes new refusals.
func (b *Book) CatchUp() error {
	b.inbox.Lock()
	evs, fed := b.pending, b.fed
	b.pending, b.fed = b.sparePending, b.spareFed
	b.sparePending, b.spareFed = nil, nil
	b.inbox.Unlock()

	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.heard()
	err := b.store.View(func(tx storage.Tx) error {
		for i := range evs {
			if i%yieldEvery == yieldEvery-1 {
				runq.Yield(yieldFor)
			}
			if err := b.fold(tx, &evs[i]); err != nil {
				return err
			}
		}
		return b.follow(tx, h, fed)
	})
	b.spare(evs, fed)
	if err != nil {
		return fmt.Errorf("catch up the owner's figures: %w", err)
	}
	return b.saveRefusals()
}

// spare keeps a catch-up's inboxes, emptied, for the next one, unless a
// burst grew them past maxFed events. Both keep filling past maxPending
// until the catch-up they poke runs (an issuing burst fills pending), so
// that is the room they need.
func (b *Book) spare(evs []fraud.Event, fed []verify.JournalEvent) {
	clear(evs) // drop what the events point to
	clear(fed)
	b.inbox.Lock()
	defer b.inbox.Unlock()
	if b.sparePending == nil && cap(evs) <= maxFed {
		b.sparePending = evs[:0]
	}
	if b.spareFed == nil && cap(fed) <= maxFed {
		b.spareFed = fed[:0]
	}
}

func (b *Book) merchant(id string) *merchantBook {
	m := b.merchants[id]
	if m == nil {
		m = &merchantBook{days: map[int32]*day{}}
		b.merchants[id] = m
	}
	return m
}

func (b *Book) day(merchant string, t time.Time) *day {
	m := b.merchant(merchant)
	n := dayOf(t)
	d := m.days[n]
	if d == nil {
		d = &day{}
		m.days[n] = d
	}
	return d
}

// issued counts one credential of rec issued; rewards are counted from
// the journal, where the card that earned them is.
func (b *Book) issued(serial credential.Serial, rec *credential.Record) {
	if b.fleet != nil && rec.Kind == credential.KindCoupon {
		b.fleet.coupons[serial] = true // counted once, whichever way it is met (fleet.go)
	}
	switch {
	case rec.Kind == credential.KindCard:
		b.day(rec.Merchant, rec.IssuedAt).cardsIssued++
		b.cardOf(serial, rec.Merchant)
	case rec.Kind == credential.KindCoupon && rec.RewardOf == "":
		d := b.day(rec.Merchant, rec.IssuedAt)
		d.couponsIssued++
		d.couponsIssuedValue.add(rec.Value, 1)
		d.campaign(rec.Offer).issued++
	}
}

func (b *Book) cardOf(serial credential.Serial, merchant string) *card {
	c := b.cards[serial]
	if c == nil {
		m := b.merchant(merchant)
		c = &card{merchant: merchant, idx: m.ncards}
		m.ncards++
		b.cards[serial] = c
	}
	return c
}

// loadIssued counts every issuance record of the ledger.
func (b *Book) loadIssued(tx storage.Tx) error {
	return tx.Scan(storage.Credentials, nil, func(k, v []byte) error {
		if len(k) != len(credential.Serial{}) {
			return nil
		}
		rec, err := credential.Decode(v)
		if err != nil {
			return err
		}
		b.learn(credential.Serial(k), &rec)
		b.issued(credential.Serial(k), &rec)
		b.events++
		return nil
	})
}

// fold counts one observed event.
func (b *Book) fold(tx storage.Tx, ev *fraud.Event) error {
	serial, serr := credential.ParseSerial(ev.Serial)
	if ev.Op == fraud.OpIssue && b.fleet != nil {
		return nil // counted from the issuance records, of every node (fleet.go)
	}
	if ev.Op == fraud.OpIssue {
		if serr != nil {
			return nil
		}
		rec, err := credential.Load(tx, serial[:])
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, known := b.cards[serial]; known && rec.Kind == credential.KindCard {
			return nil // met in the journal before its issuance event: counted when the Book was built
		}
		b.learn(serial, &rec)
		b.issued(serial, &rec)
		b.events++
		return nil
	}
	d := b.day(ev.Merchant, ev.Time)
	if d.refused == nil {
		d.refused = map[string]int{}
	}
	d.refused[string(ev.Result)]++
	if ev.Op == fraud.OpRedeem && serr == nil {
		// What the refused redemption would have cost, had it been honoured.
		if rec, err := credential.Load(tx, serial[:]); err == nil && rec.Merchant == ev.Merchant {
			d.refusedValue.add(rec.Value, 1)
		}
	}
	b.markDirty(ev.Merchant, dayOf(ev.Time))
	b.events++
	return nil
}

func (b *Book) markDirty(merchant string, n int32) {
	if b.dirty[merchant] == nil {
		b.dirty[merchant] = map[int32]bool{}
	}
	b.dirty[merchant][n] = true
}

// The catch-up is background work: every yieldEvery events it steps aside
// while requests wait for a CPU, for at most yieldFor. A second of journal
// is tens of milliseconds of decoding; runtime.Gosched only moved it to the
// back of the queue it shared with requests. Stepping aside took the
// redeem p99 at 3,400/s from 19.7-150 ms to 18.6-23.1 ms (docs/performance.md),
// and at these bounds it still folds more than 10,000 events a second on a
// saturated core.
const (
	yieldEvery = 16
	yieldFor   = time.Millisecond
)

// heard takes what the watches reported, on a shared backend, before a
// catch-up opens its snapshot.
func (b *Book) heard() heard {
	if b.fleet == nil {
		return heard{}
	}
	return b.fleet.take()
}

// follow reads the journal from where the Book left off (on a shared
// backend: what the watches reported, h; on a single writer: after the
// events fed to it), then the alerts and the blocklist.
func (b *Book) follow(tx storage.Tx, h heard, fed []verify.JournalEvent) error {
	var err error
	if b.fleet != nil {
		err = b.followFleet(tx, h)
	} else {
		err = b.followJournal(tx, fed)
	}
	if err != nil {
		return err
	}
	if err := b.followAlerts(tx); err != nil {
		return err
	}
	return b.followBlocks(tx)
}

// followJournal counts the fed events that continue the journal from
// where the Book left off, then reads the journal for the rest: events
// committed after the feed was taken, or missing from it (dropped, or
// written by another verifier).
func (b *Book) followJournal(tx storage.Tx, fed []verify.JournalEvent) error {
	count := func(e *verify.JournalEvent) error {
		b.events++
		if b.events%yieldEvery == 0 {
			runq.Yield(yieldFor)
		}
		return b.apply(tx, e)
	}
	slices.SortFunc(fed, func(x, y verify.JournalEvent) int { return cmp.Compare(x.Seq, y.Seq) })
	for i := range fed {
		e := &fed[i]
		if e.Seq <= b.journal {
			continue // read from the journal by an earlier catch-up
		}
		if e.Seq != b.journal+1 {
			break // a gap: the journal has the rest
		}
		if err := count(e); err != nil {
			return err
		}
		b.journal = e.Seq
	}
	var err error
	b.journal, err = verify.ReadJournal(tx, b.journal, func(e verify.JournalEvent) error { return count(&e) })
	return err
}

// apply counts one journal event.
func (b *Book) apply(tx storage.Tx, e *verify.JournalEvent) error {
	en := &e.Entry
	switch {
	case (en.Op == "stamp" || en.Op == "claim") && en.Stamps > 0 && en.Card == "":
		c, err := b.knownCard(tx, e.Serial)
		if err != nil || c == nil {
			return err
		}
		d := b.day(c.merchant, en.At)
		d.stamps += en.Stamps
		d.register(en.Register).Stamps += en.Stamps
		d.visit(c.idx, en.At.Unix())
	case en.Op == "reward" && en.Reward != "":
		rec, err := b.record(tx, en.Reward)
		if err != nil || rec == nil {
			return err
		}
		d := b.day(rec.Merchant, en.At)
		d.rewardsEarned++
		d.earnedValue.add(rec.Value, 1)
		if !rec.Expires.IsZero() {
			x := b.day(rec.Merchant, rec.Expires)
			x.rewardsExpiring++
			x.expiringValue.add(rec.Value, 1)
		}
	case en.Op == "void" && e.Voids != 0:
		return b.void(tx, e)
	case en.Op == "revoked":
		// A reward taken back because the stamps that earned it were voided.
		rec, err := b.record(tx, e.Serial.String())
		if err != nil || rec == nil || rec.RewardOf == "" {
			return err
		}
		d := b.day(rec.Merchant, rec.IssuedAt)
		d.rewardsEarned--
		d.earnedValue.add(rec.Value, -1)
		if !rec.Expires.IsZero() {
			x := b.day(rec.Merchant, rec.Expires)
			x.rewardsExpiring--
			x.expiringValue.add(rec.Value, -1)
		}
	case en.Op == "redeem" && e.Use:
		rec := &e.Record // fed: the record the redemption was checked against
		if rec.Merchant == "" {
			var err error
			if rec, err = b.record(tx, e.Serial.String()); err != nil || rec == nil {
				return err
			}
		}
		d := b.day(rec.Merchant, en.At)
		d.register(en.Register).Redemptions++
		if rec.RewardOf != "" {
			d.rewardsRedeemed++
			d.rewardRedeemedValue.add(rec.Value, 1)
			if !rec.Expires.IsZero() {
				x := b.day(rec.Merchant, rec.Expires)
				x.rewardsExpiring--
				x.expiringValue.add(rec.Value, -1)
			}
		} else {
			d.couponsRedeemed++
			d.couponRedeemedValue.add(rec.Value, 1)
			c := d.campaign(rec.Offer)
			c.redeemed++
			c.redeemedValue.add(rec.Value, 1)
		}
	}
	return nil
}

// void takes back, on the day it happened, the redemption or the stamps
// that e voids: a voided use did not happen.
func (b *Book) void(tx storage.Tx, e *verify.JournalEvent) error {
	v, err := verify.JournalEventAt(tx, e.Voids)
	if err != nil {
		return err
	}
	en := &v.Entry
	switch {
	case e.Unuse && en.Op == "redeem":
		rec, err := b.record(tx, v.Serial.String())
		if err != nil || rec == nil {
			return err
		}
		d := b.day(rec.Merchant, en.At)
		d.register(en.Register).Redemptions--
		if rec.RewardOf != "" {
			d.rewardsRedeemed--
			d.rewardRedeemedValue.add(rec.Value, -1)
			if !rec.Expires.IsZero() {
				x := b.day(rec.Merchant, rec.Expires)
				x.rewardsExpiring++
				x.expiringValue.add(rec.Value, 1)
			}
		} else {
			d.couponsRedeemed--
			d.couponRedeemedValue.add(rec.Value, -1)
			c := d.campaign(rec.Offer)
			c.redeemed--
			c.redeemedValue.add(rec.Value, -1)
		}
	case !e.Unuse && (en.Op == "stamp" || en.Op == "claim"):
		c, err := b.knownCard(tx, v.Serial)
		if err != nil || c == nil {
			return err
		}
		d := b.day(c.merchant, en.At)
		d.stamps -= en.Stamps
		d.register(en.Register).Stamps -= en.Stamps
		d.unvisit(c.idx, en.At.Unix())
	}
	return nil
}

// knownCard is the Book's card of serial, registered from the ledger when
// the Book has not met it (issued while the Book was not watching).
func (b *Book) knownCard(tx storage.Tx, serial credential.Serial) (*card, error) {
	if c := b.cards[serial]; c != nil {
		return c, nil
	}
	rec, err := credential.Load(tx, serial[:])
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return b.cardOf(serial, rec.Merchant), nil
}

func (b *Book) record(tx storage.Tx, serial string) (*credential.Record, error) {
	s, err := credential.ParseSerial(serial)
	if err != nil {
		return nil, nil
	}
	if rec := b.knownRecord(s); rec != nil {
		return rec, nil
	}
	rec, err := credential.Load(tx, s[:])
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &rec, nil
}

// learn keeps the record of coupon s (nil: s changed in a way the caller
// did not see, or was deleted) for its redemptions. Only what the figures
// use is kept: the sealed code, the card ledger and recent marks are
// dropped. The latest maxKnown/2 to maxKnown records are kept: two
// generations, the older dropped whole when the newer is full. Called
// with mu held.
func (b *Book) learn(s credential.Serial, rec *credential.Record) {
	if rec == nil || rec.Kind != credential.KindCoupon {
		delete(b.known, s)
		delete(b.knownBefore, s)
		return
	}
	if len(b.known) >= maxKnown/2 {
		b.knownBefore, b.known = b.known, make(map[credential.Serial]*credential.Record, maxKnown/2)
	}
	r := *rec
	r.SealedCode, r.Code, r.Rewards, r.Recent = nil, "", nil, nil
	b.known[s] = &r
}

func (b *Book) knownRecord(s credential.Serial) *credential.Record {
	if r := b.known[s]; r != nil {
		return r
	}
	return b.knownBefore[s]
}

// maxKnown bounds the coupon records kept.
const maxKnown = 50_000

// alertHead is the part of a stored alert the Book reads.
type alertHead struct {
	Kind      string    `json:"kind"`
	Merchant  string    `json:"merchant"`
	CreatedAt time.Time `json:"created_at"`
}

// followAlerts counts alerts the Book has not seen, by the day they were
// raised. An alert is counted once, however often its incident recurs.
func (b *Book) followAlerts(tx storage.Tx) error {
	return tx.Scan(storage.Alerts, nil, func(k, v []byte) error {
		if b.alerts[string(k)] {
			return nil
		}
		var a alertHead
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("decode alert: %w", err)
		}
		b.alerts[string(k)] = true
		if a.Merchant == "" || a.Kind == "" {
			return nil
		}
		d := b.day(a.Merchant, a.CreatedAt)
		if d.alerts == nil {
			d.alerts = map[string]int{}
		}
		d.alerts[a.Kind]++
		return nil
	})
}

// followBlocks keeps the set of blocked serials; a block counts on the day
// it was placed, a lifted block is no longer counted.
func (b *Book) followBlocks(tx storage.Tx) error {
	seen := make(map[string]bool, len(b.blocks))
	err := tx.Scan(storage.Blocklist, nil, func(k, v []byte) error {
		seen[string(k)] = true
		if _, ok := b.blocks[string(k)]; ok {
			return nil
		}
		var rec fraud.BlockRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decode block: %w", err)
		}
		b.blocks[string(k)] = rec.Merchant
		b.day(rec.Merchant, rec.At).blocks++
		return nil
	})
	for s := range b.blocks {
		if !seen[s] {
			delete(b.blocks, s) // lifted; its day keeps the block it had
		}
	}
	return err
}

// refusalRecord is one merchant's refusals of one day in storage.Report.
type refusalRecord struct {
	Refused map[string]int `json:"refused"`
	Value   Money          `json:"value,omitempty"`
}

func refusalKey(merchant string, n int32) []byte {
	return []byte(merchant + "/refused/" + dayStart(n).Format(time.DateOnly))
}

func (b *Book) loadRefusals(tx storage.Tx) error {
	return tx.Scan(storage.Report, nil, func(k, v []byte) error {
		merchant, date, ok := strings.Cut(string(k), "/refused/")
		if !ok {
			return nil
		}
		t, err := time.Parse(time.DateOnly, date)
		if err != nil {
			return fmt.Errorf("report key %q: %w", k, err)
		}
		var r refusalRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("report record %q: %w", k, err)
		}
		d := b.day(merchant, t)
		d.refused, d.refusedValue = r.Refused, r.Value
		if b.fleet != nil {
			b.fleet.setStored(merchant, dayOf(t), refusalRecord{Refused: clone(r.Refused), Value: cloneMoney(r.Value)})
		}
		return nil
	})
}

// saveRefusals writes the refusal records of the days that changed.
func (b *Book) saveRefusals() error {
	if len(b.dirty) == 0 {
		return nil
	}
	if b.fleet != nil {
		return b.saveFleetRefusals()
	}
	type put struct {
		key []byte
		rec refusalRecord
	}
	var puts []put
	for merchant, days := range b.dirty {
		for n := range days {
			d := b.merchants[merchant].days[n]
			puts = append(puts, put{refusalKey(merchant, n), refusalRecord{Refused: clone(d.refused), Value: cloneMoney(d.refusedValue)}})
		}
	}
	sort.Slice(puts, func(i, j int) bool { return string(puts[i].key) < string(puts[j].key) })
	err := b.store.Update(func(tx storage.Tx) error {
		for _, p := range puts {
			if err := storage.PutJSON(tx, storage.Report, p.key, p.rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write refusals: %w", err)
	}
	b.dirty = map[string]map[int32]bool{}
	return nil
}

func clone(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneMoney(m Money) Money {
	var out Money
	out.plus(m, 1)
	return out
}

// Merchants lists the merchants the Book has figures of, sorted.
func (b *Book) Merchants() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.merchants))
	for m := range b.merchants {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// Folded is how many ledger records and events the Book has read.
func (b *Book) Folded() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.events
}
