// Package issuer builds and signs credentials: stamp cards, punch tokens and
// coupons. Every serial it signs is recorded in the ledger in the same
// transaction that hands the code out, so that a validly signed code with
// no record can only come from a leaked key.
package issuer

import (
	"errors"
	"fmt"
	"time"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/internal/keyed"
	"github.com/stampseal/stampseal/storage"
)

// MaxBatch is the most coupons one call may mint.
const MaxBatch = 1000

// Errors for requests the issuer refuses.
var (
	ErrProgramExists  = errors.New("program already exists")
	ErrUnknownProgram = errors.New("no such program")
	ErrInvalid        = errors.New("invalid request")
)

// Signer signs with a merchant's primary key; keys.Ring is one.
type Signer interface {
	Sign(merchant string, msg []byte) (sig []byte, keyID uint32, err error)
}

// ShortCodes gives every serial its typeable short code and the keyed hash
// under which the ledger finds it (the short code itself is never stored).
type ShortCodes interface {
	Derive(serial []byte) string
	LookupKey(shortCode string) ([]byte, error)
}

// Issuer mints credentials. It is safe for concurrent use.
type Issuer struct {
	store  storage.Backend
	signer Signer
	short  ShortCodes
	sealer credential.CodeSealer // nil: codes kept in clear (tests with a bare signer)
	now    func() time.Time

	issueLimits, rewardLimits *keyed.Limiter // nil: nobody is limited (limits.go)
	observer                  Observer       // nil: nobody is told
}

// Option configures an Issuer.
type Option func(*Issuer)

// WithClock replaces the clock, for tests.
func WithClock(now func() time.Time) Option { return func(i *Issuer) { i.now = now } }

// WithShortCodes gives every credential a short code.
func WithShortCodes(s ShortCodes) Option { return func(i *Issuer) { i.short = s } }

// New returns an Issuer that records into store and signs with signer.
func New(store storage.Backend, signer Signer, opts ...Option) *Issuer {
	i := &Issuer{store: store, signer: signer, now: time.Now}
	// A signer that can also seal (keys.Ring) keeps codes sealed at rest.
	i.sealer, _ = signer.(credential.CodeSealer)
	for _, o := range opts {
		o(i)
	}
	return i
}

// Now is the issuer's clock.
func (i *Issuer) Now() time.Time { return i.now() }

// CouponRequest describes a batch of identical coupons.
type CouponRequest struct {
	Merchant  string
	Offer     string
	ValidFor  time.Duration     // 0: no expiry
	NotBefore time.Time         // zero: valid at once
	MaxUses   int               // 0 means 1
	Count     int               // 0 means 1
	Value     *credential.Value // optional: what one use is worth
}

func (r *CouponRequest) validate() error {
	switch {
	case r.Offer == "" || len(r.Offer) > 200:
		return fmt.Errorf("%w: offer must be 1 to 200 characters", ErrInvalid)
	case r.ValidFor < 0 || r.ValidFor > 5*366*24*time.Hour:
		return fmt.Errorf("%w: valid_for must be between 0 and 5 years", ErrInvalid)
	case r.MaxUses < 0 || r.MaxUses > 1000:
		return fmt.Errorf("%w: max_uses must be 1 to 1000", ErrInvalid)
	case r.Count < 0 || r.Count > MaxBatch:
		return fmt.Errorf("%w: count must be 1 to %d", ErrInvalid, MaxBatch)
	}
	if r.Value != nil {
		if err := r.Value.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	return nil
}

// Coupons mints a batch of coupons as the operator.
func (i *Issuer) Coupons(req CouponRequest) ([]credential.Issued, error) {
	return i.CouponsAs(audit.Operator, req)
}

// CouponsAs mints a batch of coupons for by in one transaction: either all
// are recorded and returned, or none. The batch counts against by's limit.
func (i *Issuer) CouponsAs(by audit.Actor, req CouponRequest) ([]credential.Issued, error) {
	if err := i.admit(by, req.Merchant, credential.KindCoupon, req.Count); err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	count, maxUses := max(req.Count, 1), max(req.MaxUses, 1)
	now := i.now()
	start := now
	if req.NotBefore.After(now) {
		start = req.NotBefore
	}
	drafts := make([]credential.Draft, 0, count)
	for range count {
		d, err := i.sign(credential.Claims{
			Kind: credential.KindCoupon, Merchant: req.Merchant,
			IssuedAt: now.Unix(), NotBefore: int64(start.Sub(now) / time.Second),
			ValidFor: int64(req.ValidFor / time.Second), Count: uint32(maxUses),
		}, credential.Record{Offer: req.Offer, MaxUses: maxUses, Value: req.Value})
		if err != nil {
			return nil, err
		}
		drafts = append(drafts, d)
	}
	if err := i.store.Update(func(tx storage.Tx) error { return i.record(tx, drafts...) }); err != nil {
		return nil, fmt.Errorf("record coupons: %w", err)
	}
	out := issued(drafts)
	i.minted(by, req.Merchant, out...)
	return out, nil
}

// Card issues a stamp card of a program. Cards do not expire: the program
// decides what a card is worth.
func (i *Issuer) Card(merchant, program string) (credential.Issued, error) {
	return i.CardAs(audit.Operator, merchant, program)
}

// CardAs issues a stamp card of a program for by, counting against by's
// limit.
func (i *Issuer) CardAs(by audit.Actor, merchant, program string) (credential.Issued, error) {
	if err := i.admit(by, merchant, credential.KindCard, 1); err != nil {
		return credential.Issued{}, err
	}
	return i.forProgram(by, merchant, program, credential.KindCard, 0, 0)
}

// DefaultPunchValidFor is how long a punch token stays valid when the
// request does not say: a receipt's stamp is claimed within days.
const DefaultPunchValidFor = 72 * time.Hour

// Punch issues a punch token worth stamps (0: one) on a card of the
// program.
func (i *Issuer) Punch(merchant, program string, stamps int, validFor time.Duration) (credential.Issued, error) {
	return i.PunchAs(audit.Operator, merchant, program, stamps, validFor)
}

// PunchAs issues a punch token for by, counting against by's limit.
func (i *Issuer) PunchAs(by audit.Actor, merchant, program string, stamps int, validFor time.Duration) (credential.Issued, error) {
	if err := i.admit(by, merchant, credential.KindPunch, 1); err != nil {
		return credential.Issued{}, err
	}
	if stamps == 0 {
		stamps = 1
	}
	if stamps < 1 || stamps > credential.MaxStampsAtOnce {
		return credential.Issued{}, fmt.Errorf("%w: stamps must be 1 to %d", ErrInvalid, credential.MaxStampsAtOnce)
	}
	if validFor <= 0 || validFor > 366*24*time.Hour {
		return credential.Issued{}, fmt.Errorf("%w: valid_for must be between 1s and 1 year", ErrInvalid)
	}
	return i.forProgram(by, merchant, program, credential.KindPunch, stamps, validFor)
}

func (i *Issuer) forProgram(by audit.Actor, merchant, program string, kind credential.Kind, stamps int, validFor time.Duration) (credential.Issued, error) {
	if _, err := i.Program(merchant, program); err != nil {
		return credential.Issued{}, err
	}
	d, err := i.sign(credential.Claims{
		Kind: kind, Merchant: merchant, IssuedAt: i.now().Unix(),
		ValidFor: int64(validFor / time.Second), Program: program, Count: uint32(stamps),
	}, credential.Record{Program: program, Stamps: stamps})
	if err != nil {
		return credential.Issued{}, err
	}
	if err := i.store.Update(func(tx storage.Tx) error { return i.record(tx, d) }); err != nil {
		return credential.Issued{}, fmt.Errorf("record %s: %w", kind, err)
	}
	out := issued([]credential.Draft{d})[0]
	i.minted(by, merchant, out)
	return out, nil
}

// SignReward signs, outside any transaction, the reward coupon a full card
// of program p earns; RecordReward records it when the stamp commits.
func (i *Issuer) SignReward(p credential.Program, now time.Time) (credential.Draft, error) {
	return i.sign(credential.Claims{
		Kind: credential.KindCoupon, Merchant: p.Merchant, IssuedAt: now.Unix(),
		ValidFor: int64(p.RewardValidFor / time.Second), Count: 1,
	}, credential.Record{Offer: p.Reward, MaxUses: 1, Program: p.ID, Value: p.Value})
}

// RecordReward records, inside the caller's transaction, a reward signed by
// SignReward as earned on card, so that stamp and reward commit together.
func (i *Issuer) RecordReward(tx storage.Tx, d credential.Draft, card string) (credential.Issued, error) {
	d.Record.RewardOf = card
	if err := i.record(tx, d); err != nil {
		return credential.Issued{}, err
	}
	return issued([]credential.Draft{d})[0], nil
}

// sign fills in the serial, signs the claims and completes the record.
func (i *Issuer) sign(c credential.Claims, rec credential.Record) (credential.Draft, error) {
	serial, err := credential.NewSerial()
	if err != nil {
		return credential.Draft{}, err
	}
	c.Serial = serial
	claims, err := c.Marshal()
	if err != nil {
		return credential.Draft{}, err
	}
	sig, keyID, err := i.signer.Sign(c.Merchant, credential.SigningInput(claims))
	if err != nil {
		return credential.Draft{}, fmt.Errorf("sign for %s: %w", c.Merchant, err)
	}
	rec.Kind, rec.Merchant, rec.KeyID = c.Kind, c.Merchant, keyID
	rec.IssuedAt, rec.NotBefore, rec.Expires = time.Unix(c.IssuedAt, 0).UTC(), c.ValidFrom(), c.Expires()
	code := credential.Encode(claims, sig)
	if i.sealer != nil {
		if rec.SealedCode, err = i.sealer.SealCode(serial[:], code); err != nil {
			return credential.Draft{}, err
		}
	} else {
		rec.Code = code
	}
	d := credential.Draft{Serial: serial, Record: rec, Code: code}
	if i.short != nil {
		d.ShortCode = i.short.Derive(serial[:])
	}
	return d, nil
}

// record writes the issuance records and short-code index entries.
func (i *Issuer) record(tx storage.Tx, drafts ...credential.Draft) error {
	for _, d := range drafts {
		if tx.Get(storage.Credentials, d.Serial[:]) != nil {
			return fmt.Errorf("serial collision %s", d.Serial) // 2^-128: a broken RNG
		}
		if err := credential.Save(tx, d.Serial[:], &d.Record); err != nil {
			return err
		}
		if d.ShortCode != "" {
			key, err := i.short.LookupKey(d.ShortCode)
			if err != nil {
				return err
			}
			if err := tx.Put(storage.ShortCodes, key, d.Serial[:]); err != nil {
				return err
			}
		}
	}
	return nil
}

func issued(drafts []credential.Draft) []credential.Issued {
	out := make([]credential.Issued, len(drafts))
	for n, d := range drafts {
		out[n] = credential.Issued{Serial: d.Serial.String(), Code: d.Code, Kind: d.Record.Kind, ShortCode: d.ShortCode, Expires: d.Record.Expires}
	}
	return out
}
