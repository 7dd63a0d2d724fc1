package offline

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

// Verifier applies operations to the ledger; verify.Verifier is one.
type Verifier interface {
	Redeem(verify.Request) (verify.Redemption, error)
	Stamp(verify.StampRequest) (verify.StampResult, error)
	Claim(verify.ClaimRequest) (verify.StampResult, error)
}

// Alerts raises offline_double_spend alerts; fraud.Monitor is one.
type Alerts interface {
	RaiseDoubleSpend(fraud.DoubleSpend)
}

// Service builds snapshots and syncs till agents' queues.
type Service struct {
	store    storage.Backend
	keys     KeySource
	verifier Verifier
	alerts   Alerts
	now      func() time.Time
	maxOps   int
	skew     time.Duration
	lanes    int
	seed     maphash.Seed
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces the clock, for tests.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLimits sets the largest sync batch and the clock skew allowed to a
// till's time.
func WithLimits(maxOps int, skew time.Duration) Option {
	return func(s *Service) { s.maxOps, s.skew = maxOps, skew }
}

// Defaults of sync.
const (
	DefaultMaxOperations = 500
	DefaultClockSkew     = 2 * time.Minute
)

// NewService returns the offline service over store.
func NewService(store storage.Backend, k KeySource, v Verifier, a Alerts, opts ...Option) *Service {
	s := &Service{store: store, keys: k, verifier: v, alerts: a, now: time.Now,
		maxOps: DefaultMaxOperations, skew: DefaultClockSkew, lanes: 64, seed: maphash.MakeSeed()}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Operations a till agent syncs.
const (
	OpRedeem = "redeem"
	OpStamp  = "stamp"
	OpClaim  = "claim"
)

// Operation is one operation a till decided offline and queued.
type Operation struct {
	Op             string    `json:"op"`
	Code           string    `json:"code,omitempty"`
	CardCode       string    `json:"card_code,omitempty"`
	PunchCode      string    `json:"punch_code,omitempty"`
	Stamps         int       `json:"stamps,omitempty"`
	Register       string    `json:"register"`
	IdempotencyKey string    `json:"idempotency_key"`
	At             time.Time `json:"at"`
}

// Statuses of a synced operation.
const (
	Applied   = "applied"   // now in the ledger
	Duplicate = "duplicate" // synced before: the first result, unchanged
	Conflict  = "conflict"  // a single-use code already used elsewhere: recorded as a loss
	Refused   = "refused"   // not valid even at the till's time (blocked, revoked, ...)
)

// Result is the outcome of one synced operation.
type Result struct {
	IdempotencyKey string `json:"idempotency_key"`
	Status         string `json:"status"`
	// First is the status the operation got when it was first synced,
	// for a duplicate.
	First      string              `json:"first_status,omitempty"`
	Reason     string              `json:"reason,omitempty"` // snake_case refusal, for refused
	At         time.Time           `json:"at"`               // the till's time as the ledger took it
	Clamped    bool                `json:"at_clamped,omitempty"`
	Redemption *verify.Redemption  `json:"redemption,omitempty"`
	Stamp      *verify.StampResult `json:"stamp,omitempty"`
	Conflict   *ConflictDetail     `json:"conflict,omitempty"`
}

// ConflictDetail names both uses of a code spent twice.
type ConflictDetail struct {
	Serial string `json:"serial"`
	First  Side   `json:"first"`
	Second Side   `json:"second"`
}

// Side is one use of a conflict.
type Side struct {
	Register string    `json:"register"`
	At       time.Time `json:"at"`
}

// Caller is the till agent that syncs: its authenticated API key.
type Caller struct {
	Merchant string
	APIKey   string // id of the key: operations are scoped to it
	Name     string // the key's name, the register label when an op has none
	Source   string // client address
}

// ErrTooMany is a sync batch over the limit.
var ErrTooMany = errors.New("too many operations in one sync")

// syncState is what the server remembers of one till agent's syncs.
type syncState struct {
	// LastSync is when the last sync that drained the agent's queue (one
	// with fewer operations than the limit) arrived: no operation synced
	// later can have happened before it.
	LastSync time.Time `json:"last_sync"`
}

func stateKey(apiKey string) []byte    { return []byte("s/" + apiKey) }
func opKey(apiKey, idem string) []byte { return []byte("o/" + apiKey + "/" + idem) }
func lossKey(merchant string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("l/"+merchant+"/"), seq)
}

// Loss is the second use of a code spent twice, which the merchant honoured
// at an offline till and has lost.
type Loss struct {
	Merchant   string    `json:"merchant"`
	Serial     string    `json:"serial"`
	Op         string    `json:"op"`
	First      Side      `json:"first"`
	Second     Side      `json:"second"`
	APIKey     string    `json:"api_key"` // the till whose use was lost
	RecordedAt time.Time `json:"recorded_at"`
}

// Sync applies a till agent's queued operations in order. Every operation
// is decided by the verifier as an online one would be, at the till's
// time bounded to [the agent's last draining sync, now + clock skew]: the
// ledger's order is the order of arrival, the till's time only evidence.
// An operation synced before (same API key and idempotency key) answers
// duplicate and changes nothing. A single-use code that was already used
// is a conflict: the first use stays, the second is recorded as a loss and
// raises offline_double_spend. Operations on different codes run
// concurrently; those on one code run in the order sent.
func (s *Service) Sync(c Caller, ops []Operation) ([]Result, error) {
	if len(ops) > s.maxOps {
		return nil, fmt.Errorf("%w: %d, at most %d", ErrTooMany, len(ops), s.maxOps)
	}
	now := s.now().UTC()
	var (
		state syncState
		prior = make([]*Result, len(ops))
	)
	err := s.store.View(func(tx storage.Tx) error {
		if err := storage.GetJSON(tx, storage.Offline, stateKey(c.APIKey), &state); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		for i, op := range ops {
			var r Result
			if op.IdempotencyKey == "" || len(op.IdempotencyKey) > verify.MaxIdempotencyKey {
				continue
			}
			if err := storage.GetJSON(tx, storage.Offline, opKey(c.APIKey, op.IdempotencyKey), &r); err == nil {
				prior[i] = &r
			} else if !errors.Is(err, storage.ErrNotFound) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	results := make([]Result, len(ops))
	losses := make([]*Loss, len(ops))
	errs := make([]error, len(ops))
	lanes := make([][]int, s.lanes)
	seen := map[string]bool{}
	for i, op := range ops {
		switch {
		case prior[i] != nil:
			results[i] = *prior[i]
			results[i].First, results[i].Status = prior[i].Status, Duplicate
			continue
		case seen[op.IdempotencyKey]: // sent twice in one batch
			results[i] = Result{IdempotencyKey: op.IdempotencyKey, Status: Duplicate}
			continue
		}
		seen[op.IdempotencyKey] = true
		if reason := validate(op); reason != "" {
			results[i] = Result{IdempotencyKey: op.IdempotencyKey, Status: Refused, Reason: reason}
			continue
		}
		lane := maphash.String(s.seed, op.subject()) % uint64(s.lanes)
		lanes[lane] = append(lanes[lane], i)
	}
	var wg sync.WaitGroup
	for _, lane := range lanes {
		if len(lane) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, i := range lane {
				results[i], losses[i], errs[i] = s.apply(c, ops[i], state.LastSync, now)
				if errs[i] != nil {
					return // the batch fails; nothing more of this lane runs
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sync: %w", err)
	}

	// The results are remembered in one transaction. A crash before it
	// leaves the operations to be sent again: the verifier's idempotency
	// keys make the resent redemptions and stamps harmless, and a conflict
	// is found (and recorded) again.
	err = s.store.Update(func(tx storage.Tx) error {
		for i, op := range ops {
			if prior[i] != nil || results[i].Status == Duplicate {
				continue
			}
			kept := results[i]
			if kept.Stamp != nil { // no bearer codes at rest: a reward's code was in the first answer
				st := kept.Stamp.WithoutCodes()
				kept.Stamp = &st
			}
			if err := storage.PutJSON(tx, storage.Offline, opKey(c.APIKey, op.IdempotencyKey), kept); err != nil {
				return err
			}
			if losses[i] != nil {
				seq, err := tx.Sequence(storage.Offline)
				if err != nil {
					return err
				}
				if err := storage.PutJSON(tx, storage.Offline, lossKey(c.Merchant, seq), losses[i]); err != nil {
					return err
				}
			}
		}
		if len(ops) < s.maxOps {
			return storage.PutJSON(tx, storage.Offline, stateKey(c.APIKey), syncState{LastSync: now})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record sync: %w", err)
	}
	return results, nil
}

// subject is the code whose uses must stay in order: the single-use one.
func (op *Operation) subject() string {
	switch op.Op {
	case OpStamp:
		return op.CardCode
	case OpClaim:
		return op.PunchCode
	}
	return op.Code
}

// validate names what is wrong with an operation in itself, or "".
func validate(op Operation) string {
	switch {
	case op.IdempotencyKey == "" || len(op.IdempotencyKey) > verify.MaxIdempotencyKey:
		return "invalid_request"
	case op.At.IsZero() || len(op.Register) > 64:
		return "invalid_request"
	case op.Op == OpRedeem && op.Code != "":
	case op.Op == OpStamp && op.CardCode != "" && op.Stamps >= 0 && op.Stamps <= 100:
	case op.Op == OpClaim && op.CardCode != "" && op.PunchCode != "":
	default:
		return "invalid_request"
	}
	return ""
}

// apply decides one operation. A refusal or conflict is a result; the
// error is for failures of the service.
func (s *Service) apply(c Caller, op Operation, floor, now time.Time) (Result, *Loss, error) {
	at := op.At.UTC()
	res := Result{IdempotencyKey: op.IdempotencyKey, At: at}
	if at.Before(floor) {
		at, res.Clamped = floor, true
	}
	if ceil := now.Add(s.skew); at.After(ceil) {
		at, res.Clamped = ceil, true
	}
	res.At = at
	register := op.Register
	if register == "" {
		register = c.Name
	}
	req := verify.Request{Merchant: c.Merchant, Register: register, APIKey: c.APIKey, Source: c.Source,
		IdempotencyKey: op.IdempotencyKey, At: at}
	var (
		err    error
		serial string
	)
	switch op.Op {
	case OpRedeem:
		req.Code = op.Code
		serial = serialOf(op.Code)
		var r verify.Redemption
		if r, err = s.verifier.Redeem(req); err == nil {
			res.Redemption = &r
		}
	case OpStamp:
		req.Code = op.CardCode
		stamps := op.Stamps
		if stamps == 0 {
			stamps = 1
		}
		var r verify.StampResult
		if r, err = s.verifier.Stamp(verify.StampRequest{Request: req, Stamps: stamps}); err == nil {
			res.Stamp = &r
		}
	case OpClaim:
		req.Code = op.CardCode
		serial = serialOf(op.PunchCode)
		var r verify.StampResult
		if r, err = s.verifier.Claim(verify.ClaimRequest{Request: req, PunchCode: op.PunchCode}); err == nil {
			res.Stamp = &r
		}
	}
	var (
		first   *verify.AlreadyRedeemedError
		refusal *verify.Refusal
	)
	switch {
	case err == nil:
		res.Status = Applied
		return res, nil, nil
	case errors.As(err, &first):
		res.Status = Conflict
		res.Conflict = &ConflictDetail{Serial: serial, First: Side{first.Register, first.At.UTC()}, Second: Side{register, at}}
		loss := &Loss{Merchant: c.Merchant, Serial: serial, Op: op.Op, First: res.Conflict.First, Second: res.Conflict.Second,
			APIKey: c.APIKey, RecordedAt: now}
		kind, keyID := codeKind(op)
		s.alerts.RaiseDoubleSpend(fraud.DoubleSpend{Merchant: c.Merchant, Serial: serial, Kind: kind, KeyID: keyID, Source: c.Source,
			First:  fraud.Use{Register: first.Register, At: first.At},
			Second: fraud.Use{Register: register, APIKey: c.APIKey, At: at, Offline: true}})
		return res, loss, nil
	case errors.As(err, &refusal):
		res.Status, res.Reason = Refused, string(refusal.Code)
		return res, nil, nil
	case errors.Is(err, verify.ErrInvalidRequest):
		res.Status, res.Reason = Refused, "invalid_request"
		return res, nil, nil
	}
	return res, nil, err
}

// serialOf is the hex serial of a code, or "" for one that does not parse.
func serialOf(code string) string {
	c, err := credential.Parse(code)
	if err != nil {
		return ""
	}
	return c.Claims.Serial.String()
}

// codeKind is the kind and signing key of an operation's single-use code.
func codeKind(op Operation) (string, uint32) {
	text := op.Code
	if op.Op == OpClaim {
		text = op.PunchCode
	}
	c, err := credential.Parse(text)
	if err != nil {
		return "", 0
	}
	return c.Claims.Kind.String(), c.KeyID
}

// Losses lists a merchant's recorded offline losses, oldest first, at most
// limit of them.
func (s *Service) Losses(merchant string, limit int) ([]Loss, error) {
	out := []Loss{}
	err := s.store.View(func(tx storage.Tx) error {
		return tx.Scan(storage.Offline, []byte("l/"+merchant+"/"), func(k, v []byte) error {
			if len(k) != len("l/"+merchant+"/")+8 {
				return nil // another merchant whose id extends this one
			}
			if len(out) >= limit {
				return errStop
			}
			var l Loss
			if err := json.Unmarshal(v, &l); err != nil {
				return err
			}
			out = append(out, l)
			return nil
		})
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return out, err
}

var errStop = errors.New("stop")
