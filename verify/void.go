package verify

import (
	"fmt"
	"strconv"
	"time"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/storage"
)

// A void undoes a sale at the register within the merchant's void window:
// a voided redemption gives its use back, a voided stamp (or claim) takes
// its stamps off the card. The void is a journal event that names the
// event it voids, written in the same transaction as the change, and it
// keeps its answer, so a second void of the same sale answers as the first.

// MaxReason bounds the length of a void's reason.
const MaxReason = 200

// VoidRequest voids one redemption or one stamp.
type VoidRequest struct {
	Merchant string // merchant of the caller's API key
	APIKey   string // id of the caller's API key
	Register string // the caller's label, as evidence
	Source   string
	ID       string // redemption_id or stamp_id
	Reason   string
	By       audit.Actor // for the audit trail
}

// Audit trail actions of the register's day.
const (
	AuditRedemptionVoided = "redemption_voided"
	AuditStampVoided      = "stamp_voided"
	AuditReservationFreed = "reservation_released_by_admin"
	AuditSettingsChanged  = "merchant_settings_changed"
)

func (r *VoidRequest) validate() error {
	if len(r.Reason) > MaxReason {
		return fmt.Errorf("%w: reason must be at most %d characters", ErrInvalidRequest, MaxReason)
	}
	return nil
}

// Void is the answer to a voided redemption.
type Void struct {
	Voided       bool      `json:"voided"`
	RedemptionID string    `json:"redemption_id"`
	Serial       string    `json:"serial"`
	UsesLeft     int       `json:"uses_left"`
	VoidedAt     time.Time `json:"voided_at"`
	Reason       string    `json:"reason,omitempty"`
}

// StampVoid is the answer to a voided stamp.
type StampVoid struct {
	Voided      bool      `json:"voided"`
	StampID     string    `json:"stamp_id"`
	Serial      string    `json:"serial"`
	Stamps      int       `json:"stamps"`       // on the card now
	StampsTotal int       `json:"stamps_total"` // ever, less the voided ones
	TakenBack   int       `json:"taken_back"`   // stamps taken off
	VoidedAt    time.Time `json:"voided_at"`
	Reason      string    `json:"reason,omitempty"`
	// RewardKept: the voided stamps had filled the card and its reward was
	// already redeemed; the reward stays with the customer, and the stamps
	// it would have cost are forgiven (the card does not go below zero).
	RewardKept bool `json:"reward_kept,omitempty"`
	// RewardsRevoked: unredeemed rewards that the voided stamps had earned,
	// now unusable (they answer "revoked").
	RewardsRevoked []string `json:"rewards_revoked,omitempty"`
}

// voided finds the event that voided seq, if any.
func (o *overlay) voidOf(_ credential.Serial, seq uint64) (uint64, bool) {
	if v, ok := o.voided[seq]; ok {
		return v, true
	}
	o.ix.mu.RLock()
	defer o.ix.mu.RUnlock()
	v, ok := o.ix.voided[seq]
	return v, ok
}

// voidTarget loads the event an id names and its credential, for merchant,
// and the answer of an earlier void of it, if any.
func (o journal) voidTarget(tx storage.Tx, merchant, id string) (event, uint64, credential.Record, *reply, error) {
	serial, seq, err := parseEventID(id)
	if err != nil {
		return event{}, 0, credential.Record{}, nil, err
	}
	rec, err := credential.Load(tx, serial[:])
	if err != nil || rec.Merchant != merchant {
		return event{}, 0, rec, nil, errUnknownEvent
	}
	e, err := readEvent(tx, seq)
	if err != nil || e.Serial != serial {
		return event{}, 0, rec, nil, errUnknownEvent
	}
	if vseq, ok := o.voidOf(serial, seq); ok {
		ve, err := readEvent(tx, vseq)
		if err != nil || ve.Reply == nil {
			return e, seq, rec, nil, fmt.Errorf("void %d of %d: answer missing: %w", vseq, seq, err)
		}
		return e, seq, rec, ve.Reply, nil
	}
	return e, seq, rec, nil, nil
}

// VoidRedemption gives a redemption's use back, within the merchant's void
// window (ErrVoidWindowPassed after it). A second void of the same
// redemption returns the first answer.
func (v *Verifier) VoidRedemption(req VoidRequest) (Void, error) {
	if err := req.validate(); err != nil {
		return Void{}, err
	}
	now := v.now()
	var (
		serial credential.Serial
		again  bool
	)
	out, _, err := write(v, nil, nil, func(tx storage.Tx, o journal, _ func(*Void) *answer) (Void, error) {
		again = false
		e, seq, rec, prev, err := o.voidTarget(tx, req.Merchant, req.ID)
		if err != nil {
			return Void{}, err
		}
		if !e.Use || e.Entry.Op != "redeem" {
			return Void{}, errUnknownEvent
		}
		serial = e.Serial
		if prev != nil && prev.Void != nil {
			again = true
			return *prev.Void, nil
		}
		window, err := voidWindow(tx, req.Merchant)
		if err != nil {
			return Void{}, err
		}
		if now.Sub(e.Entry.At) > window {
			return Void{}, ErrVoidWindowPassed
		}
		t := o.trail(e.Serial)
		out := Void{Voided: true, RedemptionID: req.ID, Serial: e.Serial.String(), VoidedAt: now.UTC(), Reason: req.Reason,
			UsesLeft: max(rec.UsesLeft(t.uses-1)-len(o.live(e.Serial, now, 0)), 0)}
		err = o.append(tx, event{Serial: e.Serial, Unuse: true, Voids: seq, Reply: &reply{Void: &out},
			Entry: Entry{At: now.UTC(), Op: "void", Register: req.Register, Actor: req.APIKey, Voids: req.ID, Reason: req.Reason}})
		if err != nil {
			return Void{}, err
		}
		return out, audit.Record(tx, now, req.Merchant, AuditRedemptionVoided, req.By, req.ID, map[string]string{
			"serial": out.Serial, "reason": req.Reason, "register": req.Register, "uses_left": strconv.Itoa(out.UsesLeft)})
	}, serialOf(req.ID))
	v.emitVoid(req, serial, credential.KindCoupon, 0, err, now, again)
	return out, err
}

// VoidStamp takes a stamp's (or a claim's) stamps off the card, within the
// merchant's void window. Where the stamps had filled the card, the reward
// they earned is taken back if it is unused (revoked); if it was already
// redeemed it stays redeemed, the answer says RewardKept, and the card keeps
// what is left without going below zero. A claimed punch stays claimed. A
// second void of the same stamp returns the first answer.
func (v *Verifier) VoidStamp(req VoidRequest) (StampVoid, error) {
	if err := req.validate(); err != nil {
		return StampVoid{}, err
	}
	now := v.now()
	var (
		serial credential.Serial
		again  bool
		taken  int
	)
	out, _, err := write(v, nil, nil, func(tx storage.Tx, o journal, _ func(*StampVoid) *answer) (StampVoid, error) {
		again, taken = false, 0
		e, seq, rec, prev, err := o.voidTarget(tx, req.Merchant, req.ID)
		if err != nil {
			return StampVoid{}, err
		}
		if e.Use || (e.Entry.Op != "stamp" && e.Entry.Op != "claim") || rec.Kind != credential.KindCard {
			return StampVoid{}, errUnknownEvent
		}
		serial = e.Serial
		if prev != nil && prev.StampVoid != nil {
			again = true
			return *prev.StampVoid, nil
		}
		window, err := voidWindow(tx, req.Merchant)
		if err != nil {
			return StampVoid{}, err
		}
		if now.Sub(e.Entry.At) > window {
			return StampVoid{}, ErrVoidWindowPassed
		}
		var prog credential.Program
		if err := storage.GetJSON(tx, storage.Programs, credential.ProgramKey(rec.Merchant, rec.Program), &prog); err != nil {
			return StampVoid{}, fmt.Errorf("program %s of card: %w", rec.Program, err)
		}
		taken = e.Entry.Stamps
		out := StampVoid{Voided: true, StampID: req.ID, Serial: e.Serial.String(), TakenBack: taken, VoidedAt: now.UTC(), Reason: req.Reason}
		// Take back, newest first, the unused rewards the card could not
		// have earned without these stamps.
		var revoked []credential.Serial
		for rec.Stamps < taken && prog.StampsRequired > 0 {
			r, ok := o.unusedReward(tx, &rec, revoked, now)
			if !ok {
				out.RewardKept = true
				rec.Stamps = taken // the shortfall is forgiven
				break
			}
			revoked = append(revoked, r)
			rec.Stamps += prog.StampsRequired
		}
		rec.Stamps -= taken
		rec.StampsTotal = max(rec.StampsTotal-taken, 0)
		// The voided stamps no longer count against the program's limits.
		for i, m := range rec.Recent {
			if m.At.Equal(e.Entry.At) && m.Stamps == taken {
				rec.Recent = append(rec.Recent[:i:i], rec.Recent[i+1:]...)
				break
			}
		}
		out.Stamps, out.StampsTotal = rec.Stamps, rec.StampsTotal
		for _, r := range revoked {
			out.RewardsRevoked = append(out.RewardsRevoked, r.String())
		}
		err = o.append(tx, event{Serial: e.Serial, Voids: seq, Reply: &reply{StampVoid: &out},
			Entry: Entry{At: now.UTC(), Op: "void", Register: req.Register, Actor: req.APIKey, Voids: req.ID, Stamps: taken, Reason: req.Reason}})
		if err != nil {
			return StampVoid{}, err
		}
		for _, r := range revoked {
			rr, err := credential.Load(tx, r[:])
			if err != nil {
				return StampVoid{}, fmt.Errorf("reward %s: %w", r, err)
			}
			rr.RevokedAt = now.UTC()
			if err := credential.Save(tx, r[:], &rr); err != nil {
				return StampVoid{}, err
			}
			err = o.append(tx, event{Serial: r, Entry: Entry{At: now.UTC(), Op: "revoked", Actor: req.APIKey,
				Card: e.Serial.String(), Voids: req.ID, Reason: "the stamps that earned it were voided"}})
			if err != nil {
				return StampVoid{}, err
			}
		}
		details := map[string]string{"serial": out.Serial, "reason": req.Reason, "register": req.Register,
			"taken_back": strconv.Itoa(taken), "stamps": strconv.Itoa(out.Stamps), "reward_kept": strconv.FormatBool(out.RewardKept)}
		for i, r := range out.RewardsRevoked {
			details["reward_revoked_"+strconv.Itoa(i+1)] = r
		}
		if err := audit.Record(tx, now, req.Merchant, AuditStampVoided, req.By, req.ID, details); err != nil {
			return StampVoid{}, err
		}
		return out, credential.Save(tx, e.Serial[:], &rec)
	}, serialOf(req.ID))
	v.emitVoid(req, serial, credential.KindCard, taken, err, now, again)
	return out, err
}

// unusedReward picks the card's newest reward that is neither used, held,
// revoked, nor in skip.
func (o journal) unusedReward(tx storage.Tx, card *credential.Record, skip []credential.Serial, now time.Time) (credential.Serial, bool) {
	for i := len(card.Rewards) - 1; i >= 0; i-- {
		s, err := credential.ParseSerial(card.Rewards[i])
		if err != nil {
			continue
		}
		rec, err := credential.Load(tx, s[:])
		if err != nil || !rec.RevokedAt.IsZero() || contains(skip, s) {
			continue
		}
		t := o.trail(s)
		if t.uses == 0 && len(o.live(s, now, 0)) == 0 {
			return s, true
		}
	}
	return credential.Serial{}, false
}

func contains(list []credential.Serial, s credential.Serial) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// emitVoid reports a void to the fraud module.
func (v *Verifier) emitVoid(req VoidRequest, s credential.Serial, kind credential.Kind, stamps int, err error, now time.Time, retry bool) {
	ev := fraud.Event{Time: now, Op: fraud.OpVoid, Result: fraud.ResultOK, Merchant: req.Merchant, CodeMerchant: req.Merchant,
		Kind: kind.String(), Register: req.Register, APIKey: req.APIKey, Source: req.Source, Stamps: stamps, Retry: retry}
	if s != (credential.Serial{}) {
		ev.Serial = s.String()
	}
	if err != nil {
		ev.Result = reason(err)
	}
	v.events.Observe(ev)
}

// MerchantOf names the merchant of the credential a redemption, stamp or
// reservation id points to, or "" for an id that names none; for callers
// that act for every merchant.
func (v *Verifier) MerchantOf(id string) string {
	s, _, err := parseEventID(id)
	if err != nil {
		return ""
	}
	var m string
	v.store.View(func(tx storage.Tx) error {
		rec, err := credential.Load(tx, s[:])
		m = rec.Merchant
		return err
	})
	return m
}
