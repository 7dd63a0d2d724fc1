package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrNotFound is returned by GetJSON when a key holds no value.
var ErrNotFound = errors.New("storage: not found")

// ErrUnavailable wraps write failures that come from the medium (disk full,
// read-only file system): the caller should answer "try again later" and must
// not acknowledge the write.
var ErrUnavailable = errors.New("storage: unavailable")

// Bucket names one keyspace. Every bucket that any package uses is listed in
// Buckets so that backends can create them up front.
type Bucket string

// The keyspaces of stampseal.
const (
	Merchants   Bucket = "merchants"   // merchant id -> record
	Keysets     Bucket = "keysets"     // merchant id -> encrypted keyset and key states
	APIKeys     Bucket = "apikeys"     // sha256(token) -> API key record
	Programs    Bucket = "programs"    // merchant/program -> program
	Credentials Bucket = "credentials" // serial -> issuance record and use state
	History     Bucket = "history"     // sequence -> one event of a credential (a use, a stamp), in commit order
	ShortCodes  Bucket = "shortcodes"  // keyed hash of a short code -> serial
	Alerts      Bucket = "alerts"      // alert id -> alert
	AlertIndex  Bucket = "alertindex"  // incident key -> alert id
	Blocklist   Bucket = "blocklist"   // serial -> block record
	Meta        Bucket = "meta"        // schema version, bootstrap markers
	Report      Bucket = "report"      // merchant/refused/day -> refusals seen that day (the owner's figures; the rest is rebuilt from the journal)
	Offline     Bucket = "offline"     // offline policies, synced operations of till agents, offline losses
	Settings    Bucket = "settings"    // merchant id -> the register's day settings (void window)
	Audit       Bucket = "audit"       // merchant, 0, ^sequence -> one audit entry, newest first
	Places      Bucket = "places"      // shops, API key -> shop, staff cards (fraud)
	Trails      Bucket = "trails"      // serial -> its uses, holds, voids and last use, on a shared backend (verify)
	Answers     Bucket = "answers"     // idempotency key -> the journal event holding its answer, on a shared backend (verify)
)

// Buckets lists every keyspace.
var Buckets = []Bucket{Merchants, Keysets, APIKeys, Programs, Credentials, History, ShortCodes, Alerts, AlertIndex, Blocklist, Meta, Offline, Settings, Audit, Places, Report, Trails, Answers}

// Tx is one serializable transaction.
type Tx interface {
	// Get returns the value under key, or nil. The slice is only valid until
	// the transaction ends.
	Get(b Bucket, key []byte) []byte
	// Put stores value under key; it fails in a read-only transaction.
	Put(b Bucket, key, value []byte) error
	// Delete removes key; deleting a missing key is not an error.
	Delete(b Bucket, key []byte) error
	// Scan calls fn for every key with the prefix, in key order, until fn
	// returns an error (which Scan returns). Slices are valid only inside fn.
	Scan(b Bucket, prefix []byte, fn func(key, value []byte) error) error
	// ScanFrom calls fn for every key at or after from, in key order, to
	// the end of the bucket or until fn returns an error (which ScanFrom
	// returns): a page that starts at a cursor reads nothing before it.
	ScanFrom(b Bucket, from []byte, fn func(key, value []byte) error) error
	// Sequence returns the next value of a per-bucket counter.
	Sequence(b Bucket) (uint64, error)
	// OnEnd registers fn to run when this write transaction ends: with
	// committed true once it is durable, or false if it rolled back. Either
	// way fn runs before the next write transaction begins, so a package can
	// keep an in-memory index exactly in step with what was committed. It
	// panics in a read-only transaction.
	OnEnd(fn func(committed bool))
}

// Backend is a durable transactional store.
type Backend interface {
	// View runs fn in a read-only transaction.
	View(fn func(Tx) error) error
	// Update runs fn in a read-write transaction and returns once the
	// transaction is durable. Concurrent calls are group-committed; fn may
	// run more than once, each time in a new transaction, when another call
	// in its group fails.
	Update(fn func(Tx) error) error
	// Backup writes a consistent snapshot of the whole store to w.
	Backup(w io.Writer) (int64, error)
	// Close releases the store; it waits for writes in flight.
	Close() error
}

// GetJSON decodes the JSON value under key into v, or returns ErrNotFound.
func GetJSON(tx Tx, b Bucket, key []byte, v any) error {
	raw := tx.Get(b, key)
	if raw == nil {
		return ErrNotFound
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode %s record: %w", b, err)
	}
	return nil
}

// PutJSON stores v as JSON under key.
func PutJSON(tx Tx, b Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s record: %w", b, err)
	}
	return tx.Put(b, key, raw)
}
