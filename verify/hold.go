package verify

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/storage"
)

// A reservation (a hold) keeps one use of a coupon for one register while
// the customer pays. It is a journal event with an expiry, not a record
// that something must delete: a hold counts against the coupon's uses only
// while it is open and its expiry is in the future, so an expired hold is
// free the moment it expires, with no sweep, also after a restart (the
// index is rebuilt from the journal). A confirm turns the hold into a use
// in one event; a release ends it.

// Hold time-to-live bounds.
const (
	DefaultHoldTTL = 5 * time.Minute
	MaxHoldTTL     = 30 * time.Minute
)

// held is what a hold event records.
type held struct {
	Until    time.Time `cbor:"1,keyasint"`
	Register string    `cbor:"2,keyasint,omitempty"` // the register label, as evidence
	Key      string    `cbor:"3,keyasint,omitempty"` // the API key that holds it
}

// holdState is a hold as the index knows it.
type holdState struct {
	serial    credential.Serial
	held      held
	end       uint64 // the event that confirmed or released it; 0 while open
	confirmed bool
}

// reply is an answer kept in the event that gave it, so that the same
// request (a second confirm, a second void) is answered the same way
// without an idempotency key. One of its answers is set; on disk it is a
// replyRecord.
type reply struct {
	Redemption *Redemption
	Void       *Void
	StampVoid  *StampVoid
	Released   *Released
}

// without returns s less x, as a new slice.
func without(s []uint64, x uint64) []uint64 {
	if !slices.Contains(s, x) {
		return s
	}
	out := make([]uint64, 0, len(s)-1)
	for _, v := range s {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// hold returns the hold whose event is seq, as this transaction sees it.
func (o *overlay) hold(_ credential.Serial, seq uint64) (holdState, bool) {
	if h, ok := o.holds[seq]; ok {
		return h, true
	}
	o.ix.mu.RLock()
	defer o.ix.mu.RUnlock()
	h, ok := o.ix.holds[seq]
	return h, ok
}

// setOpen replaces the list of holds of s not yet ended. Called with ix.mu
// held, or while loading.
func (ix *index) setOpen(s credential.Serial, l []uint64) {
	if len(l) == 0 {
		delete(ix.open, s)
		return
	}
	ix.open[s] = l
}

// openHolds lists the holds of s not yet ended, as this transaction sees
// them. The list is shared: never change it in place.
func (o *overlay) openHolds(s credential.Serial) []uint64 {
	if l, ok := o.open[s]; ok {
		return l
	}
	o.ix.mu.RLock()
	defer o.ix.mu.RUnlock()
	return o.ix.open[s]
}

// committedHolds counts the open holds of s at now as of the last commit.
func (ix *index) committedHolds(s credential.Serial, now time.Time) int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	n := 0
	for _, seq := range ix.open[s] {
		if h, ok := ix.holds[seq]; ok && h.end == 0 && now.Before(h.held.Until) {
			n++
		}
	}
	return n
}

// reservedBy is the refusal for a code whose free uses are all held.
func reservedBy(live []holdState) error {
	return &ReservedError{Until: live[0].held.Until, Register: live[0].held.Register}
}

// eventID names a journal event of serial to clients: a reservation, a
// redemption or a stamp. It carries the serial, so that a client cannot
// name another credential's event by counting.
func eventID(s credential.Serial, seq uint64) string {
	return s.String() + "-" + strconv.FormatUint(seq, 10)
}

// parseEventID splits an id from eventID; errUnknownEvent for anything else.
func parseEventID(id string) (credential.Serial, uint64, error) {
	serial, num, ok := strings.Cut(id, "-")
	if !ok {
		return credential.Serial{}, 0, errUnknownEvent
	}
	s, err := credential.ParseSerial(serial)
	if err != nil {
		return s, 0, errUnknownEvent
	}
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil || seq == 0 {
		return s, 0, errUnknownEvent
	}
	return s, seq, nil
}

// Reservation is the answer to a hold.
type Reservation struct {
	ReservationID string    `json:"reservation_id"`
	Serial        string    `json:"serial"`
	ExpiresAt     time.Time `json:"expires_at"`
	UsesLeft      int       `json:"uses_left"` // uses free for others while this one is held
	Register      string    `json:"register,omitempty"`
}

// ReserveRequest holds one use of a coupon.
type ReserveRequest struct {
	Request
	TTL time.Duration // 0: DefaultHoldTTL
}

// Reserve holds one use of a coupon for req's API key until the hold is
// confirmed, released or expires. A coupon whose free uses are all held
// is refused with a *ReservedError; one with no uses left with an
// *AlreadyRedeemedError. A retry with the same idempotency key returns the
// first answer.
func (v *Verifier) Reserve(req ReserveRequest) (Reservation, error) {
	if err := v.throttled(&req.Request); err != nil {
		return Reservation{}, err
	}
	switch {
	case req.TTL == 0:
		req.TTL = DefaultHoldTTL
	case req.TTL < time.Second || req.TTL > MaxHoldTTL:
		return Reservation{}, fmt.Errorf("%w: ttl must be 1s to %v", ErrInvalidRequest, MaxHoldTTL)
	}
	now := v.now()
	p, err := v.authenticateKind(&req.Request, credential.KindCoupon)
	if err != nil {
		v.emit(fraud.OpReserve, &req.Request, p, err, now, outcome{})
		return Reservation{}, err
	}
	idem := remember(req.Merchant, req.APIKey, scoped("reserve", req.IdempotencyKey), "reserve", p.serial.String(), req.TTL.String())
	out, retry, err := write(v, idem, reservationSlot, func(tx storage.Tx, o journal, keep func(*Reservation) *answer) (Reservation, error) {
		rec, err := v.ledger(tx, p, now)
		t := o.trail(p.serial)
		left := rec.UsesLeft(t.uses)
		if err == nil && left == 0 {
			err = firstUse(tx, t)
		}
		if err != nil {
			return Reservation{}, err
		}
		live := o.live(p.serial, now, 0)
		if len(live) >= left {
			return Reservation{}, reservedBy(live)
		}
		seq, err := o.next(tx)
		if err != nil {
			return Reservation{}, err
		}
		out := Reservation{ReservationID: eventID(p.serial, seq), Serial: p.serial.String(),
			ExpiresAt: now.Add(req.TTL).UTC(), UsesLeft: left - len(live) - 1, Register: req.Register}
		e := event{Serial: p.serial, Held: &held{Until: out.ExpiresAt, Register: req.Register, Key: req.APIKey},
			Entry:  Entry{At: now.UTC(), Op: "reserve", Register: req.Register, Actor: req.APIKey, Until: out.ExpiresAt},
			Answer: keep(&out)}
		return out, o.put(tx, seq, e)
	}, p.serial)
	v.emit(fraud.OpReserve, &req.Request, p, err, now, outcome{retry: retry})
	return out, err
}

func reservationSlot(a *answer) **Reservation { return &a.Reservation }

// scoped puts the idempotency keys of holds and confirms in namespaces of
// their own, so that a till may use its sale number for the hold and for
// its confirm.
func scoped(op, key string) string {
	if key == "" {
		return ""
	}
	return op + "\x00" + key
}

// HoldAction is a confirm or release of a reservation.
type HoldAction struct {
	Merchant       string      // merchant of the caller's API key
	APIKey         string      // id of the caller's API key
	Admin          bool        // the caller is an admin of the merchant: may release any hold
	By             audit.Actor // for the audit trail of an admin's release
	Source         string
	Reservation    string
	IdempotencyKey string
}

// findHold loads the hold a reservation id names, for merchant. A hold
// forgotten by the index (expired more than a day ago) is found in the
// journal and reported as expired.
func (o journal) findHold(tx storage.Tx, merchant, id string) (holdState, uint64, credential.Record, error) {
	serial, seq, err := parseEventID(id)
	if err != nil {
		return holdState{}, 0, credential.Record{}, err
	}
	rec, err := credential.Load(tx, serial[:])
	if err != nil || rec.Merchant != merchant {
		return holdState{}, 0, rec, errUnknownEvent
	}
	h, ok := o.hold(serial, seq)
	if !ok {
		e, err := readEvent(tx, seq)
		if err != nil || e.Held == nil || e.Serial != serial {
			return holdState{}, 0, rec, errUnknownEvent
		}
		return holdState{}, seq, rec, ErrReservationExpired
	}
	if h.serial != serial {
		return holdState{}, 0, rec, errUnknownEvent
	}
	return h, seq, rec, nil
}

// ended reads the event that ended a hold.
func ended(tx storage.Tx, h holdState) (*reply, error) {
	e, err := readEvent(tx, h.end)
	if err != nil {
		return nil, err
	}
	if e.Reply == nil {
		return nil, fmt.Errorf("journal entry %d ends a hold without its answer", h.end)
	}
	return e.Reply, nil
}

// Confirm turns a hold into a redemption, answered as Redeem answers. Only
// the API key that made the hold may confirm it. A second confirm of the
// same hold returns the first answer; a confirm after the hold expired is
// ErrReservationExpired, after a release ErrReservationReleased.
func (v *Verifier) Confirm(req HoldAction) (Redemption, error) {
	now := v.now()
	var (
		again  bool
		serial credential.Serial
		reg    string
	)
	idem := remember(req.Merchant, req.APIKey, scoped("confirm", req.IdempotencyKey), "confirm", req.Reservation)
	out, retry, err := write(v, idem, redemptionSlot, func(tx storage.Tx, o journal, keep func(*Redemption) *answer) (Redemption, error) {
		again = false
		h, hseq, rec, err := o.findHold(tx, req.Merchant, req.Reservation)
		serial, reg = h.serial, h.held.Register
		if err != nil {
			return Redemption{}, err
		}
		if h.held.Key != req.APIKey {
			return Redemption{}, ErrNotHolder
		}
		if h.end != 0 {
			if !h.confirmed {
				return Redemption{}, ErrReservationReleased
			}
			r, err := ended(tx, h)
			if err != nil || r.Redemption == nil {
				return Redemption{}, fmt.Errorf("confirmed hold %d: %w", hseq, err)
			}
			again = true
			return *r.Redemption, nil
		}
		if !now.Before(h.held.Until) {
			return Redemption{}, ErrReservationExpired
		}
		if err := usable(tx, h.serial, rec, now); err != nil {
			return Redemption{}, err
		}
		t := o.trail(h.serial)
		left := rec.UsesLeft(t.uses)
		if left == 0 { // cannot happen while holds are honoured; refuse rather than overspend
			return Redemption{}, firstUse(tx, t)
		}
		seq, err := o.next(tx)
		if err != nil {
			return Redemption{}, err
		}
		out := Redemption{Redeemed: true, RedemptionID: eventID(h.serial, seq), Serial: h.serial.String(),
			UsesLeft: max(left-1-len(o.live(h.serial, now, hseq)), 0), RedeemedAt: now.UTC(), Register: h.held.Register}
		e := event{Serial: h.serial, Use: true, Ends: hseq, Reply: &reply{Redemption: &out}, Answer: keep(&out), rec: rec,
			Entry: Entry{At: now.UTC(), Op: "redeem", Register: h.held.Register, Actor: req.APIKey, Reservation: req.Reservation}}
		return out, o.put(tx, seq, e)
	}, serialOf(req.Reservation))
	v.emitHeld(fraud.OpRedeem, req, serial, reg, err, now, retry || again)
	return out, err
}

// Released is the answer to a release.
type Released struct {
	Released      bool   `json:"released"`
	ReservationID string `json:"reservation_id"`
	Serial        string `json:"serial"`
}

// Release ends a hold without a use. The API key that made the hold may
// release it, and so may an admin of the merchant (a stuck till). A second
// release answers as the first; a release after a confirm is
// ErrReservationConfirmed, after expiry ErrReservationExpired.
func (v *Verifier) Release(req HoldAction) (Released, error) {
	now := v.now()
	var (
		serial credential.Serial
		reg    string
		again  bool
	)
	out, _, err := write(v, nil, nil, func(tx storage.Tx, o journal, _ func(*Released) *answer) (Released, error) {
		again = false
		h, hseq, _, err := o.findHold(tx, req.Merchant, req.Reservation)
		serial, reg = h.serial, h.held.Register
		if err != nil {
			return Released{}, err
		}
		if h.held.Key != req.APIKey && !req.Admin {
			return Released{}, ErrNotHolder
		}
		if h.end != 0 {
			if h.confirmed {
				return Released{}, ErrReservationConfirmed
			}
			r, err := ended(tx, h)
			if err != nil || r.Released == nil {
				return Released{}, fmt.Errorf("released hold %d: %w", hseq, err)
			}
			again = true
			return *r.Released, nil
		}
		if !now.Before(h.held.Until) {
			return Released{}, ErrReservationExpired
		}
		out := Released{Released: true, ReservationID: req.Reservation, Serial: h.serial.String()}
		err = o.append(tx, event{Serial: h.serial, Ends: hseq, Reply: &reply{Released: &out},
			Entry: Entry{At: now.UTC(), Op: "release", Register: h.held.Register, Actor: req.APIKey, Reservation: req.Reservation}})
		if err != nil || h.held.Key == req.APIKey {
			return out, err
		}
		// An admin freed another key's hold: that is an admin action.
		return out, audit.Record(tx, now, req.Merchant, AuditReservationFreed, req.By, req.Reservation,
			map[string]string{"serial": out.Serial, "register": h.held.Register})
	}, serialOf(req.Reservation))
	v.emitHeld(fraud.OpRelease, req, serial, reg, err, now, again)
	return out, err
}

// usable is the ledger's check of a credential known by serial alone (a
// confirm names no code): not blocked, not revoked, inside its window.
func usable(tx storage.Tx, s credential.Serial, rec credential.Record, now time.Time) error {
	switch {
	case fraud.IsBlocked(tx, s.String()):
		return ErrBlocked
	case !rec.RevokedAt.IsZero():
		return ErrRewardRevoked
	case now.Before(rec.NotBefore):
		return ErrNotYetValid
	case !rec.Expires.IsZero() && !now.Before(rec.Expires):
		return ErrExpired
	}
	return nil
}

// emitHeld reports a confirm or release to the fraud module.
func (v *Verifier) emitHeld(op fraud.Op, req HoldAction, s credential.Serial, register string, err error, now time.Time, retry bool) {
	ev := fraud.Event{Time: now, Op: op, Result: fraud.ResultOK, Merchant: req.Merchant, CodeMerchant: req.Merchant,
		Kind: credential.KindCoupon.String(), Register: register, APIKey: req.APIKey, Source: req.Source, Retry: retry}
	if s != (credential.Serial{}) {
		ev.Serial = s.String()
	}
	if err != nil {
		ev.Result = reason(err)
	}
	v.events.Observe(ev)
}
