// Package verify decides whether a code presented at a register is good:
// Verify answers without changing anything; Redeem, Stamp and Claim use a
// credential exactly as often as it allows, with the check and the mark in
// one transaction. Every decision is reported to the fraud module.
package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
)

// KeyChecker verifies a signature with a merchant's key; keys.Ring is one.
type KeyChecker interface {
	Verify(merchant string, keyID uint32, sig, msg []byte) error
}

// Observer receives one event per decision; fraud.Monitor is one.
type Observer interface {
	Observe(fraud.Event)
}

// ShortCodes turns a typed short code into its ledger lookup key, failing
// for a mistyped one before any lookup.
type ShortCodes interface {
	LookupKey(input string) ([]byte, error)
}

// RewardMinter signs reward coupons outside transactions and records them
// inside; issuer.Issuer is one.
type RewardMinter interface {
	SignReward(p credential.Program, now time.Time) (credential.Draft, error)
	RecordReward(tx storage.Tx, d credential.Draft, card string) (credential.Issued, error)
}

// Verifier checks and uses codes. It is safe for concurrent use.
type Verifier struct {
	store    storage.Backend
	keys     KeyChecker
	events   Observer
	throttle Throttle // nil: no key is slowed down (throttle.go)
	short    ShortCodes
	minter   RewardMinter
	now      func() time.Time
	idx      *index                // the journal's index on a single writer; nil on a shared backend (records.go)
	sealer   credential.CodeSealer // opens codes sealed at rest; keys.Ring is one
	turns    *turns                // on a shared backend, this node's writes per serial (queue.go)
	cache    ledgerCache           // on a following node, issuance records and the blocklist (cache.go)
	feed     func([]JournalEvent)  // told of committed journal events (WithJournalFeed)
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithClock replaces the clock, for tests.
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithObserver sends events to o.
func WithObserver(o Observer) Option { return func(v *Verifier) { v.events = o } }

// WithShortCodes enables short-code look-ups.
func WithShortCodes(s ShortCodes) Option { return func(v *Verifier) { v.short = s } }

// WithRewards enables stamping, with rewards minted by m.
func WithRewards(m RewardMinter) Option { return func(v *Verifier) { v.minter = m } }

// WithJournalFeed hands fn the journal events of every commit, in one call
// per commit, in the order they were written, before their writers are
// answered: a reader kept in step with the journal (the owner's figures)
// then need not read and decode it again. fn runs in the commit and must
// not block, nor keep the slice: the next commit reuses it. A shared store
// has no feed (each node sees only its own commits there); its readers
// follow the ledger.
func WithJournalFeed(fn func([]JournalEvent)) Option { return func(v *Verifier) { v.feed = fn } }

type noObserver struct{}

func (noObserver) Observe(fraud.Event) {}

// New returns a Verifier over store whose signatures are checked by k. It
// reads the whole journal into memory first. A store must have only one
// Verifier: it is the journal's only writer, and a second one would not
// see the first one's uses. A shared store (storage.Shared) is the
// exception: there each node's Verifier decides from per-serial records
// read inside its transactions and keeps no index.
func New(store storage.Backend, k KeyChecker, opts ...Option) (*Verifier, error) {
	v := &Verifier{store: store, keys: k, events: noObserver{}, now: time.Now}
	v.sealer, _ = k.(credential.CodeSealer)
	for _, o := range opts {
		o(v)
	}
	if storage.IsShared(store) {
		v.turns = &turns{}
		if err := checkRecords(store); err != nil {
			return nil, err
		}
		return v, nil
	}
	var err error
	if v.idx, err = loadIndex(store, v.now()); err != nil {
		return nil, err
	}
	v.idx.feed = v.feed
	return v, nil
}

// Request is a code presented at a register, with who presented it.
type Request struct {
	Merchant       string // merchant of the caller's API key
	Code           string // the full code, or
	ShortCode      string // the short code typed by a cashier
	Register       string
	APIKey         string // id of the caller's API key
	Source         string // client address
	IdempotencyKey string
	// At is, for an operation a till decided offline and syncs later, the
	// till's time: validity windows and the journal use it. The caller
	// bounds it; zero means now.
	At time.Time
}

// when is the time an operation happens at: the till's time for a synced
// offline operation, else now.
func (v *Verifier) when(req *Request) time.Time {
	if !req.At.IsZero() {
		return req.At
	}
	return v.now()
}

// Result is the answer to a verification.
type Result struct {
	Valid    bool      `json:"valid"`
	Kind     string    `json:"kind,omitempty"`
	Serial   string    `json:"serial,omitempty"`
	Merchant string    `json:"merchant,omitempty"`
	Status   string    `json:"status"`
	Reason   string    `json:"reason,omitempty"`
	UsesLeft *int      `json:"uses_left,omitempty"`
	Offer    string    `json:"offer,omitempty"`
	Program  string    `json:"program,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
}

// presented is a code that passed the checks that need no ledger: format,
// merchant, key and signature.
type presented struct {
	code   *credential.Code
	serial credential.Serial
	hash   string
	shaped bool // malformed, but of stampseal's shape: made up, not mis-scanned
}

// authenticate runs the ledger-free checks. On a refusal it still returns
// what it could decode, for the event.
func (v *Verifier) authenticate(req *Request) (*presented, error) {
	req.Code, req.ShortCode = TrimScan(req.Code), TrimScan(req.ShortCode)
	text := req.Code
	if text == "" && req.ShortCode != "" {
		var err error
		if text, err = v.resolveShort(req.ShortCode, req.Merchant); err != nil {
			return &presented{hash: hashCode(req.ShortCode)}, err
		}
	}
	p := &presented{hash: hashCode(text)}
	code, err := credential.Parse(text)
	if err != nil {
		p.shaped = credential.Shaped(text)
		return p, ErrMalformed
	}
	p.code, p.serial = code, code.Claims.Serial
	if code.Claims.Merchant != req.Merchant {
		return p, ErrWrongMerchant
	}
	switch err := v.keys.Verify(code.Claims.Merchant, code.KeyID, code.Signature, code.Signed); {
	case err == nil:
		return p, nil
	case errors.Is(err, keys.ErrUnknownKey), errors.Is(err, keys.ErrUnknownMerchant):
		return p, ErrUnknownKey
	case errors.Is(err, keys.ErrInvalidSignature):
		return p, ErrInvalidSignature
	case errors.Is(err, keys.ErrCompromised):
		return p, errCompromised
	case errors.Is(err, keys.ErrRetired):
		return p, ErrRevoked
	default:
		return p, fmt.Errorf("verify signature: %w", err)
	}
}

// resolveShort finds the code of a short code of merchant. Another
// merchant's short code answers as an unknown one: short codes share one
// namespace, and "wrong merchant" would tell a guesser that it hit a code.
func (v *Verifier) resolveShort(input, merchant string) (string, error) {
	if v.short == nil {
		return "", ErrUnknownShortCode
	}
	key, err := v.short.LookupKey(input)
	if err != nil {
		return "", ErrBadShortCode
	}
	var code string
	err = v.store.View(func(tx storage.Tx) error {
		serial := tx.Get(storage.ShortCodes, key)
		if serial == nil {
			return ErrUnknownShortCode
		}
		rec, err := credential.Load(tx, serial)
		if err != nil {
			return err
		}
		if rec.Merchant != merchant {
			return ErrUnknownShortCode
		}
		code, err = rec.CodeOf(serial, v.sealer)
		return err
	})
	return code, err
}

// hashCode identifies a presented code in events without carrying it.
func hashCode(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:8])
}

// ledger loads the credential's record and checks what the ledger decides
// for any use: issued, not blocked, inside its validity window.
func (v *Verifier) ledger(tx storage.Tx, p *presented, now time.Time) (credential.Record, error) {
	rec, err := v.record(tx, p.serial)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return rec, ErrUnissued
		}
		return rec, err
	}
	if !matchesRecord(&p.code.Claims, p.code.KeyID, &rec) {
		return rec, ErrUnissued
	}
	if v.isBlocked(tx, p.serial.String()) {
		return rec, ErrBlocked
	}
	if !rec.RevokedAt.IsZero() {
		return rec, ErrRewardRevoked
	}
	// The validity window is the record's: a code's claims are only as
	// trustworthy as the key that signed them.
	if now.Before(rec.NotBefore) {
		return rec, ErrNotYetValid
	}
	if !rec.Expires.IsZero() && !now.Before(rec.Expires) {
		return rec, ErrExpired
	}
	return rec, nil
}

// matchesRecord reports whether a validly signed code says what was issued
// under its serial. A code that claims another window, kind, program, use
// count or signing key than its issuance record was made with a leaked
// key from a real serial: it is refused as unissued, which raises the
// unissued_serial alert.
func matchesRecord(c *credential.Claims, keyID uint32, rec *credential.Record) bool {
	if rec.Kind != c.Kind || rec.Merchant != c.Merchant || rec.KeyID != keyID ||
		rec.IssuedAt.Unix() != c.IssuedAt || !rec.NotBefore.Equal(c.ValidFrom()) || !rec.Expires.Equal(c.Expires()) {
		return false
	}
	switch c.Kind {
	case credential.KindCoupon:
		return rec.MaxUses == 0 || uint32(rec.MaxUses) == c.Count
	case credential.KindPunch:
		return rec.Program == c.Program && uint32(rec.Stamps) == c.Count
	case credential.KindCard:
		return rec.Program == c.Program
	}
	return false
}

// Verify checks a code without changing anything. A refusal is an answer
// (Valid false, with Reason), not an error; the error is for failures of
// the service itself.
func (v *Verifier) Verify(req Request) (Result, error) {
	if err := v.throttled(&req); err != nil {
		return Result{}, err
	}
	now := v.now()
	p, err := v.authenticate(&req)
	var (
		rec credential.Record
		t   trail
	)
	if err == nil {
		pre := v.committed(p.serial)
		err = v.store.View(func(tx storage.Tx) error {
			v.prefetch(tx, nil, p.serial)
			var err error
			if t, err = v.trailOf(tx, p.serial, pre); err != nil {
				return err
			}
			if rec, err = v.ledger(tx, p, now); err == nil && rec.Kind != credential.KindCard && rec.UsesLeft(t.uses) == 0 {
				err = firstUse(tx, t)
			}
			return err
		})
	}
	v.emit(fraud.OpVerify, &req, p, err, now, outcome{})
	var refusal *Refusal
	switch {
	case err == nil:
		res := describe(p, rec, t.uses)
		res.Valid, res.Status = true, StatusActive
		return res, nil
	case errors.As(err, &refusal):
		res := Result{Status: refusal.Status, Reason: string(refusal.Code)}
		if refusal.Status != StatusInvalid {
			res = describe(p, rec, t.uses)
			res.Status, res.Reason = refusal.Status, string(refusal.Code)
		}
		return res, nil
	default:
		return Result{}, err
	}
}

func describe(p *presented, rec credential.Record, used int) Result {
	c := &p.code.Claims
	res := Result{Kind: c.Kind.String(), Serial: p.serial.String(), Merchant: c.Merchant,
		Offer: rec.Offer, Program: rec.Program, Expires: rec.Expires}
	if c.Kind != credential.KindCard {
		n := rec.UsesLeft(used)
		res.UsesLeft = &n
	}
	return res
}

// outcome is what an operation adds to its event beyond the request.
type outcome struct {
	retry   bool   // an idempotent retry
	stamps  int    // stamps added
	rewards int    // reward coupons paid out
	card    string // the card a punch went onto
	before  *Use   // the serial's previous use, on a shared backend
}

// emit reports one decision to the fraud module. It takes no callback so
// that the event stays on the stack on the verify path.
func (v *Verifier) emit(op fraud.Op, req *Request, p *presented, err error, now time.Time, extra outcome) {
	ev := fraud.Event{Time: now, Op: op, Result: fraud.ResultOK, Merchant: req.Merchant,
		Register: req.Register, APIKey: req.APIKey, Source: req.Source, Offline: !req.At.IsZero()}
	if p != nil {
		ev.CodeHash = p.hash
		if p.code != nil {
			c := &p.code.Claims
			ev.CodeMerchant, ev.Kind, ev.KeyID, ev.Program = c.Merchant, c.Kind.String(), p.code.KeyID, c.Program
			ev.Serial = p.serial.String()
		}
	}
	if err != nil {
		ev.Result = reason(err)
		var first *AlreadyRedeemedError
		if errors.As(err, &first) {
			ev.FirstUse, ev.FirstUseAt = first.Register, first.At
		}
		ev.Shaped = p != nil && p.shaped
	}
	ev.Retry, ev.Stamps, ev.Card, ev.Rewards = extra.retry, extra.stamps, extra.card, extra.rewards
	if b := extra.before; b != nil {
		ev.Before = fraud.Use{At: b.At, APIKey: b.APIKey, Register: b.Register, Op: fraud.Op(b.Op)}
	}
	v.events.Observe(ev)
}

// reason is the event result for an error.
func reason(err error) fraud.Reason {
	if errors.Is(err, errCompromised) {
		return fraud.ReasonCompromisedKey
	}
	var r *Refusal
	if errors.As(err, &r) {
		return r.Code
	}
	return fraud.ReasonError
}

// Guessable reports whether a request could be a guess: a short code, or
// a code that is not even of stampseal's form. A well-formed code cannot
// be guessed (its signature is checked), so a till whose key is throttled
// for guessing still serves the customer who shows a real card.
func Guessable(req Request) bool {
	if req.Code == "" {
		return true
	}
	_, err := credential.Parse(TrimScan(req.Code))
	return err != nil
}
