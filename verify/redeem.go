package verify

import (
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/storage"
)

// Redemption is the answer to a successful redeem.
type Redemption struct {
	Redeemed     bool      `json:"redeemed"`
	RedemptionID string    `json:"redemption_id"` // names it for a void
	Serial       string    `json:"serial"`
	UsesLeft     int       `json:"uses_left"`
	RedeemedAt   time.Time `json:"redeemed_at"`
	Register     string    `json:"register"`
}

// Redeem uses a coupon once. The check (issued, not blocked, in its window,
// a use left that no reservation holds) and the mark happen in one write
// transaction, so that of any
// number of concurrent redemptions exactly max_uses succeed. A retry with
// the same idempotency key returns the first answer and changes nothing.
//
// Errors: a *Refusal (see errors.go), an *AlreadyRedeemedError, a
// *ReservedError, or a failure
// of the service (storage.ErrUnavailable among them).
func (v *Verifier) Redeem(req Request) (Redemption, error) {
	if err := v.throttled(&req); err != nil {
		return Redemption{}, err
	}
	now := v.when(&req)
	p, err := v.authenticate(&req)
	if err == nil && p.code.Claims.Kind != credential.KindCoupon {
		err = ErrWrongKind
	}
	if err != nil {
		v.emit(fraud.OpRedeem, &req, p, err, now, outcome{})
		return Redemption{}, err
	}
	idem := remember(req.Merchant, req.APIKey, req.IdempotencyKey, "redeem", p.serial.String())
	var before *Use
	out, retry, err := write(v, idem, redemptionSlot, func(tx storage.Tx, o journal, keep func(*Redemption) *answer) (Redemption, error) {
		before = nil
		rec, err := v.ledger(tx, p, now)
		t := o.trail(p.serial)
		left := rec.UsesLeft(t.uses)
		if err == nil && left == 0 {
			err = firstUse(tx, t)
		}
		if err != nil {
			return Redemption{}, err
		}
		live := o.live(p.serial, now, 0)
		if len(live) >= left {
			return Redemption{}, reservedBy(live)
		}
		seq, err := o.next(tx)
		if err != nil {
			return Redemption{}, err
		}
		out := Redemption{Redeemed: true, RedemptionID: eventID(p.serial, seq), Serial: p.serial.String(),
			UsesLeft: left - len(live) - 1, RedeemedAt: now.UTC(), Register: req.Register}
		e := event{Serial: p.serial, Use: true, Entry: Entry{At: now.UTC(), Op: "redeem", Register: req.Register}, Answer: keep(&out), rec: rec}
		if err := o.put(tx, seq, e); err != nil {
			return Redemption{}, err
		}
		before, err = o.used(p.serial, Use{At: now.UTC(), APIKey: req.APIKey, Register: req.Register, Op: "redeem"})
		return out, err
	}, p.serial)
	v.emit(fraud.OpRedeem, &req, p, err, now, outcome{retry: retry, before: before})
	return out, err
}

func redemptionSlot(a *answer) **Redemption { return &a.Redemption }
