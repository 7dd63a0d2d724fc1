package verify

import (
	"errors"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/storage"
)

// ErrNotFound is returned for a serial the caller's merchant did not issue.
var ErrNotFound = errors.New("no such credential")

// Status is what the ledger knows of one credential.
type Status struct {
	Serial         string         `json:"serial"`
	Kind           string         `json:"kind"`
	Merchant       string         `json:"merchant"`
	Status         string         `json:"status"`
	UsesLeft       int            `json:"uses_left"`
	Held           int            `json:"held,omitempty"` // of uses_left, how many reservations hold now
	Stamps         *int           `json:"stamps,omitempty"`
	StampsRequired int            `json:"stamps_required,omitempty"`
	StampsTotal    int            `json:"stamps_total,omitempty"`
	Rewards        []RewardStatus `json:"rewards,omitempty"`
	Program        string         `json:"program,omitempty"`
	Offer          string         `json:"offer,omitempty"`
	RewardOf       string         `json:"reward_of,omitempty"`
	IssuedAt       string         `json:"issued_at"`
	Expires        string         `json:"expires,omitempty"`
	History        []Entry        `json:"history"`
	// Next is the cursor of the page of older history (?before=), empty
	// when History reaches the credential's first event.
	Next string `json:"next,omitempty"`
}

// RewardStatus is a reward coupon earned on a card.
type RewardStatus struct {
	Serial   string `json:"serial,omitempty"` // left out for registers: see api
	Redeemed bool   `json:"redeemed"`
	Revoked  bool   `json:"revoked,omitempty"` // taken back with voided stamps
}

// Record returns the issuance record of a serial of merchant.
func (v *Verifier) Record(merchant, serial string) (credential.Record, error) {
	s, err := credential.ParseSerial(serial)
	if err != nil {
		return credential.Record{}, ErrNotFound
	}
	var rec credential.Record
	err = v.store.View(func(tx storage.Tx) error {
		var err error
		rec, err = credential.Load(tx, s[:])
		return err
	})
	if errors.Is(err, storage.ErrNotFound) || (err == nil && rec.Merchant != merchant) {
		return credential.Record{}, ErrNotFound
	}
	return rec, err
}

// Status reports a credential's state and the newest page of its history
// to its merchant.
func (v *Verifier) Status(merchant, serial string) (Status, error) {
	return v.StatusPage(merchant, serial, HistoryPage{})
}

// StatusPage reports a credential's state and the page p of its history
// to its merchant.
func (v *Verifier) StatusPage(merchant, serial string, p HistoryPage) (Status, error) {
	if p.Limit < 0 || p.Limit > MaxHistoryPage {
		return Status{}, ErrInvalidRequest
	}
	s, err := credential.ParseSerial(serial)
	if err != nil {
		return Status{}, ErrNotFound
	}
	now := v.now()
	pre := v.committed(s) // before the transaction, which then sees every event it names
	var out Status
	err = v.store.View(func(tx storage.Tx) error {
		t, err := v.trailOf(tx, s, pre)
		if err != nil {
			return err
		}
		rec, err := credential.Load(tx, s[:])
		if err != nil {
			return err
		}
		if rec.Merchant != merchant {
			return storage.ErrNotFound
		}
		out = Status{Serial: s.String(), Kind: rec.Kind.String(), Merchant: rec.Merchant, Status: StatusActive,
			UsesLeft: rec.UsesLeft(t.uses), Program: rec.Program, Offer: rec.Offer, RewardOf: rec.RewardOf,
			IssuedAt: rec.IssuedAt.Format(timeFormat)}
		if !rec.Expires.IsZero() {
			out.Expires = rec.Expires.Format(timeFormat)
		}
		if out.Held, err = v.heldNow(tx, s, now); err != nil {
			return err
		}
		switch {
		case fraud.IsBlocked(tx, s.String()):
			out.Status = StatusBlocked
		case !rec.RevokedAt.IsZero():
			out.Status = StatusRevoked
		case rec.Kind != credential.KindCard && out.UsesLeft == 0:
			out.Status = StatusRedeemed
		case !rec.Expires.IsZero() && !now.Before(rec.Expires):
			out.Status = StatusExpired
		case now.Before(rec.NotBefore):
			out.Status = StatusNotYetValid
		}
		if rec.Kind == credential.KindCard {
			stamps := rec.Stamps
			out.Stamps, out.StampsTotal = &stamps, rec.StampsTotal
			var prog credential.Program
			if storage.GetJSON(tx, storage.Programs, credential.ProgramKey(rec.Merchant, rec.Program), &prog) == nil {
				out.StampsRequired = prog.StampsRequired
			}
			for _, r := range rec.Rewards {
				rs, _ := credential.ParseSerial(r)
				rr, err := credential.Load(tx, rs[:])
				rt, terr := v.trailOf(tx, rs, v.committed(rs))
				if terr != nil {
					return terr
				}
				redeemed := err == nil && rr.UsesLeft(rt.uses) == 0
				out.Rewards = append(out.Rewards, RewardStatus{Serial: r, Redeemed: redeemed, Revoked: err == nil && !rr.RevokedAt.IsZero()})
			}
		}
		h, next, err := page(tx, t, p)
		out.History, out.Next = append([]Entry{}, h...), next
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return Status{}, ErrNotFound
	}
	return out, err
}

const timeFormat = "2006-01-02T15:04:05Z07:00"
