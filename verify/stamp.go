package verify

import (
	"errors"
	"fmt"
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/storage"
)

// StampResult is a card's state after stamps were added.
type StampResult struct {
	StampID        string              `json:"stamp_id"` // names it for a void
	Serial         string              `json:"serial"`
	Stamps         int                 `json:"stamps"`
	StampsRequired int                 `json:"stamps_required"`
	StampsTotal    int                 `json:"stamps_total"`
	Added          int                 `json:"added"`
	Rewards        []credential.Issued `json:"rewards"`
}

// StampRequest adds stamps to a card at a register.
type StampRequest struct {
	Request     // Code is the card's code
	Stamps  int // stamps for this purchase; 0: one
}

// Stamp adds stamps to a card. Each time the card fills, a reward coupon is
// minted in the same transaction and returned; stamps beyond a full card
// carry over. A retry with the same idempotency key returns the first
// answer and adds nothing.
func (v *Verifier) Stamp(req StampRequest) (StampResult, error) {
	if err := v.throttled(&req.Request); err != nil {
		return StampResult{}, err
	}
	if req.Stamps == 0 {
		req.Stamps = 1
	}
	if req.Stamps < 1 || req.Stamps > credential.MaxStampsAtOnce {
		return StampResult{}, fmt.Errorf("%w: stamps must be 1 to %d", ErrInvalidRequest, credential.MaxStampsAtOnce)
	}
	now := v.when(&req.Request)
	card, err := v.authenticateKind(&req.Request, credential.KindCard)
	if err != nil {
		v.emit(fraud.OpStamp, &req.Request, card, err, now, outcome{})
		return StampResult{}, err
	}
	idem := remember(req.Merchant, req.APIKey, req.IdempotencyKey, "stamp", card.serial.String(), fmt.Sprint(req.Stamps))
	rewards, err := v.signRewards(card, req.Stamps, now)
	if err != nil {
		return StampResult{}, err
	}
	var before *Use
	out, retry, err := write(v, idem, stampSlot, func(tx storage.Tx, o journal, keep func(*StampResult) *answer) (StampResult, error) {
		before = nil
		entry := Entry{At: now.UTC(), Op: "stamp", Register: req.Register, Stamps: req.Stamps, Source: "register"}
		out, err := v.addStamps(tx, o, card, req.Stamps, entry, keep, now, rewards)
		if err != nil {
			return StampResult{}, err
		}
		before, err = o.used(card.serial, Use{At: now.UTC(), APIKey: req.APIKey, Register: req.Register, Op: "stamp"})
		return out, err
	}, card.serial)
	if err == nil && retry {
		err = v.revealRewards(&out)
	}
	v.emit(fraud.OpStamp, &req.Request, card, err, now, outcome{retry: retry, stamps: req.Stamps, rewards: len(out.Rewards), before: before})
	return out, err
}

// WithoutCodes is r as it may be stored: the rewards keep their serials,
// not their codes or short codes, which redeem them.
func (r StampResult) WithoutCodes() StampResult {
	rewards := make([]credential.Issued, len(r.Rewards))
	for i, w := range r.Rewards {
		w.Code, w.ShortCode = "", ""
		rewards[i] = w
	}
	r.Rewards = rewards
	return r
}

// revealRewards puts back the codes that WithoutCodes took out of a
// remembered answer, from the rewards' sealed records, so that a retry
// gets the first answer again.
func (v *Verifier) revealRewards(r *StampResult) error {
	deriver, _ := v.short.(interface{ Derive(serial []byte) string })
	return v.store.View(func(tx storage.Tx) error {
		for i := range r.Rewards {
			w := &r.Rewards[i]
			if w.Code != "" {
				continue
			}
			s, err := credential.ParseSerial(w.Serial)
			if err != nil {
				return fmt.Errorf("remembered reward %q: %w", w.Serial, err)
			}
			rec, err := credential.Load(tx, s[:])
			if err != nil {
				return fmt.Errorf("remembered reward %s: %w", w.Serial, err)
			}
			if w.Code, err = rec.CodeOf(s[:], v.sealer); err != nil {
				return err
			}
			if deriver != nil {
				w.ShortCode = deriver.Derive(s[:])
			}
		}
		return nil
	})
}

func stampSlot(a *answer) **StampResult { return &a.Stamp }

// ClaimRequest puts a punch token's stamps onto a card.
type ClaimRequest struct {
	Request          // Code is the card's code
	PunchCode string // the punch token's code
}

// Claim moves a punch's stamps onto a card of the same program, once: a
// second claim of the punch is an *AlreadyRedeemedError. A retry with the
// same idempotency key (a till resending after a timeout) returns the first
// answer, changes nothing and is no replay.
func (v *Verifier) Claim(req ClaimRequest) (StampResult, error) {
	if err := v.throttled(&req.Request); err != nil {
		return StampResult{}, err
	}
	now := v.when(&req.Request)
	card, err := v.authenticateKind(&req.Request, credential.KindCard)
	if err != nil {
		v.emit(fraud.OpClaim, &req.Request, card, err, now, outcome{})
		return StampResult{}, err
	}
	preq := req.Request
	preq.Code, preq.ShortCode = req.PunchCode, ""
	punch, err := v.authenticateKind(&preq, credential.KindPunch)
	if err == nil && punch.code.Claims.Program != card.code.Claims.Program {
		err = ErrWrongProgram
	}
	if err != nil {
		v.emit(fraud.OpClaim, &preq, punch, err, now, outcome{})
		return StampResult{}, err
	}
	rewards, err := v.signRewards(card, int(punch.code.Claims.Count), now)
	if err != nil {
		return StampResult{}, err
	}
	stamps := int(punch.code.Claims.Count)
	idem := remember(req.Merchant, req.APIKey, req.IdempotencyKey, "claim", card.serial.String(), punch.serial.String())
	var before *Use
	out, retry, err := write(v, idem, stampSlot, func(tx storage.Tx, o journal, keep func(*StampResult) *answer) (StampResult, error) {
		before = nil
		prec, err := v.ledger(tx, punch, now)
		t := o.trail(punch.serial)
		if err == nil && prec.UsesLeft(t.uses) == 0 {
			err = firstUse(tx, t)
		}
		if err != nil {
			return StampResult{}, err
		}
		stamps = prec.Stamps
		entry := Entry{At: now.UTC(), Op: "claim", Register: req.Register, Stamps: stamps, Source: "punch", Punch: punch.serial.String()}
		out, err := v.addStamps(tx, o, card, stamps, entry, keep, now, rewards)
		if err != nil {
			return StampResult{}, err
		}
		use := Entry{At: now.UTC(), Op: "claim", Register: req.Register, Card: card.serial.String()}
		if err := o.append(tx, event{Serial: punch.serial, Use: true, Entry: use}); err != nil {
			return StampResult{}, err
		}
		before, err = o.used(card.serial, Use{At: now.UTC(), APIKey: req.APIKey, Register: req.Register, Op: "claim"})
		return out, err
	}, card.serial, punch.serial)
	if err != nil {
		stamps = 0
	}
	if err == nil && retry {
		err = v.revealRewards(&out)
	}
	v.emit(fraud.OpClaim, &preq, punch, err, now, outcome{retry: retry, stamps: stamps, rewards: len(out.Rewards), card: card.serial.String(), before: before})
	return out, err
}

// ErrInvalidRequest marks requests that are wrong in themselves.
var ErrInvalidRequest = errors.New("invalid request")

func (v *Verifier) authenticateKind(req *Request, kind credential.Kind) (*presented, error) {
	p, err := v.authenticate(req)
	if err == nil && p.code.Claims.Kind != kind {
		err = ErrWrongKind
	}
	return p, err
}

// signRewards signs, before the write transaction, the reward coupons that
// adding stamps to the card will earn as the ledger stands now, so that the
// single writer does not wait for signatures. A concurrent stamp can make
// the card fill differently; addStamps signs the difference itself.
func (v *Verifier) signRewards(card *presented, stamps int, now time.Time) ([]credential.Draft, error) {
	if v.minter == nil {
		return nil, errors.New("stamping is not configured")
	}
	var rec credential.Record
	var prog credential.Program
	err := v.store.View(func(tx storage.Tx) error {
		var err error
		if rec, err = credential.Load(tx, card.serial[:]); err != nil {
			return err
		}
		return storage.GetJSON(tx, storage.Programs, credential.ProgramKey(rec.Merchant, rec.Program), &prog)
	})
	if err != nil || prog.StampsRequired <= 0 {
		return nil, nil // the transaction will meet and report the problem
	}
	drafts := make([]credential.Draft, 0, (rec.Stamps+stamps)/prog.StampsRequired)
	for range cap(drafts) {
		d, err := v.minter.SignReward(prog, now)
		if err != nil {
			return nil, fmt.Errorf("sign reward: %w", err)
		}
		drafts = append(drafts, d)
	}
	return drafts, nil
}

// addStamps checks the card and the program's limits and adds stamps,
// recording a reward each time the card fills, and journals entry (with
// the answer kept for its idempotency key, if any) and the rewards. Refusals write nothing.
func (v *Verifier) addStamps(tx storage.Tx, o journal, card *presented, stamps int, entry Entry, keep func(*StampResult) *answer, now time.Time, signed []credential.Draft) (StampResult, error) {
	rec, err := v.ledger(tx, card, now)
	if err != nil {
		return StampResult{}, err
	}
	var prog credential.Program
	if err := storage.GetJSON(tx, storage.Programs, credential.ProgramKey(rec.Merchant, rec.Program), &prog); err != nil {
		return StampResult{}, fmt.Errorf("program %s of card: %w", rec.Program, err)
	}
	rec.Recent = withinDay(rec.Recent, now)
	if err := checkLimits(prog.Limits, rec.Recent, stamps, now); err != nil {
		return StampResult{}, err
	}
	rec.Recent = append(rec.Recent, credential.Mark{At: now.UTC(), Stamps: stamps})
	rec.Stamps += stamps
	rec.StampsTotal += stamps
	out := StampResult{Serial: card.serial.String(), StampsRequired: prog.StampsRequired, Added: stamps, Rewards: []credential.Issued{}}
	var earned []Entry
	for rec.Stamps >= prog.StampsRequired {
		rec.Stamps -= prog.StampsRequired
		var d credential.Draft
		if len(signed) > 0 {
			d, signed = signed[0], signed[1:]
		} else if d, err = v.minter.SignReward(prog, now); err != nil { // a concurrent stamp filled the card
			return StampResult{}, fmt.Errorf("sign reward: %w", err)
		}
		reward, err := v.minter.RecordReward(tx, d, card.serial.String())
		if err != nil {
			return StampResult{}, fmt.Errorf("record reward: %w", err)
		}
		rec.Rewards = append(rec.Rewards, reward.Serial)
		out.Rewards = append(out.Rewards, reward)
		earned = append(earned, Entry{At: now.UTC(), Op: "reward", Reward: reward.Serial})
	}
	out.Stamps, out.StampsTotal = rec.Stamps, rec.StampsTotal

	seq, err := o.next(tx)
	if err != nil {
		return StampResult{}, err
	}
	out.StampID = eventID(card.serial, seq)
	kept := out.WithoutCodes() // the journal is at rest: no bearer codes in it
	if err := o.put(tx, seq, event{Serial: card.serial, Entry: entry, Answer: keep(&kept)}); err != nil {
		return StampResult{}, err
	}
	for _, r := range earned {
		if err := o.append(tx, event{Serial: card.serial, Entry: r}); err != nil {
			return StampResult{}, err
		}
	}
	return out, credential.Save(tx, card.serial[:], &rec)
}

func withinDay(marks []credential.Mark, now time.Time) []credential.Mark {
	cut := 0
	for cut < len(marks) && now.Sub(marks[cut].At) >= 24*time.Hour {
		cut++
	}
	return marks[cut:]
}

func checkLimits(l credential.Limits, recent []credential.Mark, stamps int, now time.Time) error {
	if l.PerRequest > 0 && stamps > l.PerRequest {
		return ErrLimitExceeded
	}
	hour, day := stamps, stamps
	for _, m := range recent {
		day += m.Stamps
		if now.Sub(m.At) < time.Hour {
			hour += m.Stamps
		}
	}
	if (l.PerHour > 0 && hour > l.PerHour) || (l.PerDay > 0 && day > l.PerDay) || day > credential.CeilingPerDay {
		return ErrLimitExceeded
	}
	return nil
}
