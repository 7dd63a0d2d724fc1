// Package audit is the append-only trail of what admins and auditors did:
// who (the API key that acted), what, to what, from where and when. Other
// packages record their actions through Record, inside the write
// transaction that makes the change, so that a change and its audit entry
// commit together or not at all. Nothing in this package edits or deletes
// an entry.
package audit

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/stampseal/stampseal/storage"
)

// Actions recorded by stampseal. Packages may record others; names are
// snake_case verbs in the past tense, never renamed once shipped.
const (
	MerchantCreated   = "merchant_created"
	APIKeyCreated     = "apikey_created"
	APIKeyRevoked     = "apikey_revoked"
	KeysRotated       = "keys_rotated"
	KeysRewrapped     = "keys_rewrapped"
	ProgramCreated    = "program_created"
	CredentialBlocked = "credential_blocked"
	CredentialUnblock = "credential_unblocked"
	AlertResolved     = "alert_resolved"
	BackupTaken       = "backup_taken"
	BackupRestored    = "backup_restored"
	ReviewSignIn      = "review_signed_in"
)

// Global is the merchant under which actions that concern no single
// merchant (backup, restore, rewrap) are recorded.
const Global = "*"

// Limits on what an entry carries.
const (
	MaxList    = 1000 // entries one List answers at most
	maxField   = 200  // bytes in a name, target or source
	maxDetails = 16   // details per entry
	maxDetail  = 500  // bytes in one detail value
)

// Actor is who acted: an API key (its id, name and role) and where the
// request came from. The command line acts as Operator.
type Actor struct {
	KeyID  string
	Name   string
	Role   string
	Source string
}

// Operator is the actor of commands run on the server's own machine
// (stampseal subcommands), which hold the database file, not an API key.
var Operator = Actor{Name: "operator", Role: "operator", Source: "cli"}

// Event is one entry of the trail.
type Event struct {
	At         time.Time         `json:"at"`
	Merchant   string            `json:"merchant"`
	Action     string            `json:"action"`
	ActorKeyID string            `json:"actor_key_id"`
	ActorName  string            `json:"actor_name"`
	ActorRole  string            `json:"actor_role"`
	Source     string            `json:"source"`
	Target     string            `json:"target"`
	Details    map[string]string `json:"details"`
}

// ErrInvalid is returned for an entry or a query that cannot be recorded
// or answered.
var ErrInvalid = errors.New("invalid audit entry or query")

// Record appends one entry to the trail inside tx, the caller's write
// transaction: the entry commits with the change it describes. at is the
// time of the action; details must not carry codes, tokens or secrets.
func Record(tx storage.Tx, at time.Time, merchant, action string, by Actor, target string, details map[string]string) error {
	if merchant == "" || action == "" {
		return fmt.Errorf("%w: merchant and action are required", ErrInvalid)
	}
	if len(details) > maxDetails {
		return fmt.Errorf("%w: at most %d details", ErrInvalid, maxDetails)
	}
	ev := Event{At: at.UTC(), Merchant: merchant, Action: action, ActorKeyID: clip(by.KeyID, maxField),
		ActorName: clip(by.Name, maxField), ActorRole: clip(by.Role, maxField), Source: clip(by.Source, maxField),
		Target: clip(target, maxField), Details: map[string]string{}}
	for k, v := range details {
		ev.Details[clip(k, maxField)] = clip(v, maxDetail)
	}
	seq, err := tx.Sequence(storage.Audit)
	if err != nil {
		return fmt.Errorf("audit sequence: %w", err)
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode audit entry: %w", err)
	}
	return tx.Put(storage.Audit, entryKey(merchant, seq), raw)
}

// entryKey orders a merchant's entries newest first: the merchant, a zero
// byte (never in a merchant id), and the complement of the sequence.
func entryKey(merchant string, seq uint64) []byte {
	k := make([]byte, 0, len(merchant)+9)
	k = append(k, merchant...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, ^seq)
}

// clip cuts s to at most n bytes of valid UTF-8, so that an entry stays
// small and renders whatever a client sent.
func clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // invalid bytes become U+FFFD
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Query selects entries of one merchant: at or after Since (if set), at
// most Limit (0: DefaultLimit), newest first.
type Query struct {
	Merchant string
	Since    time.Time
	Limit    int
}

// DefaultLimit is the number of entries List answers when Query.Limit is 0.
const DefaultLimit = 100

// Trail reads the audit trail and records entries that need a transaction
// of their own.
type Trail struct {
	store storage.Backend
	now   func() time.Time
}

// New returns the trail kept in store.
func New(store storage.Backend) *Trail { return &Trail{store: store, now: time.Now} }

// Record appends one entry in a transaction of its own, for actions whose
// change is not in this store's transaction (a backup, a restore).
func (t *Trail) Record(merchant, action string, by Actor, target string, details map[string]string) error {
	at := t.now()
	return t.store.Update(func(tx storage.Tx) error { return Record(tx, at, merchant, action, by, target, details) })
}

var errEnough = errors.New("enough entries")

// List returns the entries q selects, newest first.
func (t *Trail) List(q Query) ([]Event, error) {
	if q.Merchant == "" {
		return nil, fmt.Errorf("%w: merchant is required", ErrInvalid)
	}
	if q.Limit < 0 || q.Limit > MaxList {
		return nil, fmt.Errorf("%w: limit must be 0 to %d", ErrInvalid, MaxList)
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	out := []Event{}
	prefix := append([]byte(q.Merchant), 0)
	err := t.store.View(func(tx storage.Tx) error {
		return tx.Scan(storage.Audit, prefix, func(_, v []byte) error {
			var ev Event
			if err := json.Unmarshal(v, &ev); err != nil {
				return fmt.Errorf("decode audit entry: %w", err)
			}
			if ev.At.Before(q.Since) {
				return errEnough // newest first: everything after is older
			}
			out = append(out, ev)
			if len(out) >= q.Limit {
				return errEnough
			}
			return nil
		})
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, err
	}
	return out, nil
}
