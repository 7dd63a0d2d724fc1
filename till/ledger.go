package till

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stampseal/stampseal/client"
	"github.com/stampseal/stampseal/offline"
)

// The agent's own ledger, one bbolt file: the queue of operations decided
// offline, in order; the uses of single-use codes at this till; the
// answers given offline, for retries; and the agent's state.
var (
	bucketQueue   = []byte("queue")   // sequence -> queued
	bucketUses    = []byte("uses")    // serial -> localUse
	bucketAnswers = []byte("answers") // idempotency key -> answer given offline
	bucketState   = []byte("state")   // name -> value
)

// State keys.
var (
	keySnapshot   = []byte("snapshot")    // the snapshot as the server sent it
	keyETag       = []byte("etag")        // its ETag
	keySnapshotAt = []byte("snapshot_at") // when it was fetched (RFC 3339)
	keyContact    = []byte("contact")     // when the server last answered
	keyCaps       = []byte("caps")        // offlineSpent since the queue was last empty
	keySynced     = []byte("synced")      // when a sync last emptied the queue
)

// queued is an operation waiting for the server.
type queued struct {
	Op       client.SyncOperation `json:"op"`
	Serial   string               `json:"serial,omitempty"` // of the single-use code, if any
	Value    int64                `json:"value,omitempty"`  // counted against the value cap
	QueuedAt time.Time            `json:"queued_at"`
}

// localUse is what this till knows of a code's uses.
type localUse struct {
	Count    int       `json:"count"`   // uses at this till, online and offline
	Pending  int       `json:"pending"` // offline uses not yet acknowledged by the server
	At       time.Time `json:"at"`      // the first use here
	Register string    `json:"register"`
}

// offlineSpent is what the till redeemed offline since its queue was last
// empty, for the merchant's caps.
type offlineSpent struct {
	Redemptions int   `json:"redemptions"`
	Value       int64 `json:"value"`
}

type ledger struct {
	db *bolt.DB
}

func openLedger(path string) (*ledger, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: 2 * time.Second,
		// As the server's ledger: the freelist is rebuilt on open rather
		// than written with every commit, and address space is reserved
		// so that growth rarely remaps.
		NoFreelistSync:  true,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: 256 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("open till ledger %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketQueue, bucketUses, bucketAnswers, bucketState} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &ledger{db: db}, nil
}

func (l *ledger) close() error { return l.db.Close() }

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	return true, json.Unmarshal(raw, v)
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// usedHere is a single-use code this till already used and has not yet
// reported: honouring it again, online or not, would spend it twice.
type usedHere struct {
	At       time.Time
	Register string
}

func (e *usedHere) Error() string { return "already used at this till" }

// capReached is an offline redemption over the merchant's till caps.
var errCapReached = errors.New("offline cap reached")

// spend is one offline operation to record: the use of a single-use code
// (when serial is set), the queue entry and the answer given.
type spend struct {
	q       queued
	maxUses int          // of the code at serial
	caps    offline.Caps // the merchant's caps, for single-use codes
	answer  []byte       // kept for retries when the point of sale sent an idempotency key

	generatedKey bool // the agent made the key: no answer to keep
}

// record checks and marks in one transaction: the code has uses left at
// this till, the caps have room; then it queues the operation and keeps
// the answer for retries.
func (l *ledger) record(s spend) error {
	return l.db.Update(func(tx *bolt.Tx) error {
		uses, state := tx.Bucket(bucketUses), tx.Bucket(bucketState)
		if s.q.Serial != "" {
			var u localUse
			if _, err := getJSON(uses, []byte(s.q.Serial), &u); err != nil {
				return err
			}
			if u.Count >= max(s.maxUses, 1) {
				return &usedHere{At: u.At, Register: u.Register}
			}
			var spent offlineSpent
			if _, err := getJSON(state, keyCaps, &spent); err != nil {
				return err
			}
			if (s.caps.Redemptions > 0 && spent.Redemptions+1 > s.caps.Redemptions) ||
				(s.caps.Value > 0 && spent.Value+s.q.Value > s.caps.Value) {
				return errCapReached
			}
			spent.Redemptions++
			spent.Value += s.q.Value
			if err := putJSON(state, keyCaps, spent); err != nil {
				return err
			}
			if u.Count == 0 {
				u.At, u.Register = s.q.Op.At, s.q.Op.Register
			}
			u.Count++
			u.Pending++
			if err := putJSON(uses, []byte(s.q.Serial), u); err != nil {
				return err
			}
		}
		q := tx.Bucket(bucketQueue)
		seq, err := q.NextSequence()
		if err != nil {
			return err
		}
		if err := putJSON(q, binary.BigEndian.AppendUint64(nil, seq), s.q); err != nil {
			return err
		}
		if s.answer == nil {
			return nil
		}
		return tx.Bucket(bucketAnswers).Put([]byte(s.q.Op.IdempotencyKey), s.answer)
	})
}

// pendingUse reports a code used offline at this till and not yet synced,
// with no use left here.
func (l *ledger) pendingUse(serial string, maxUses int) error {
	return l.db.View(func(tx *bolt.Tx) error {
		var u localUse
		if _, err := getJSON(tx.Bucket(bucketUses), []byte(serial), &u); err != nil {
			return err
		}
		if u.Pending > 0 && u.Count >= max(maxUses, 1) {
			return &usedHere{At: u.At, Register: u.Register}
		}
		return nil
	})
}

// noteUse counts a use the server granted online.
func (l *ledger) noteUse(serial, register string, at time.Time) error {
	return l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUses)
		var u localUse
		if _, err := getJSON(b, []byte(serial), &u); err != nil {
			return err
		}
		if u.Count == 0 {
			u.At, u.Register = at, register
		}
		u.Count++
		return putJSON(b, []byte(serial), u)
	})
}

// answered returns the answer given offline to an idempotency key, if any.
func (l *ledger) answered(key string) []byte {
	var out []byte
	l.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketAnswers).Get([]byte(key)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out
}

// entry is a queued operation with its place in the queue.
type entry struct {
	seq uint64
	queued
}

// head returns up to n queued operations, oldest first.
func (l *ledger) head(n int) ([]entry, error) {
	var out []entry
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketQueue).Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			var e entry
			if err := json.Unmarshal(v, &e.queued); err != nil {
				return fmt.Errorf("queue entry %x: %w", k, err)
			}
			e.seq = binary.BigEndian.Uint64(k)
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// forget drops the operations the server acknowledged, with their answers;
// their codes' uses stop being pending. When the queue is empty the caps
// start again.
func (l *ledger) forget(done []entry, now time.Time) (left int, err error) {
	err = l.db.Update(func(tx *bolt.Tx) error {
		q, uses, answers, state := tx.Bucket(bucketQueue), tx.Bucket(bucketUses), tx.Bucket(bucketAnswers), tx.Bucket(bucketState)
		for _, e := range done {
			if err := q.Delete(binary.BigEndian.AppendUint64(nil, e.seq)); err != nil {
				return err
			}
			if err := answers.Delete([]byte(e.Op.IdempotencyKey)); err != nil {
				return err
			}
			if e.Serial == "" {
				continue
			}
			var u localUse
			if _, err := getJSON(uses, []byte(e.Serial), &u); err != nil {
				return err
			}
			u.Pending = max(u.Pending-1, 0)
			if err := putJSON(uses, []byte(e.Serial), u); err != nil {
				return err
			}
		}
		left = q.Stats().KeyN
		if k, _ := q.Cursor().First(); k == nil {
			left = 0
			if err := state.Delete(keyCaps); err != nil {
				return err
			}
			return state.Put(keySynced, []byte(now.UTC().Format(time.RFC3339Nano)))
		}
		return nil
	})
	return left, err
}

// queueState is the queue's length and its oldest operation's time.
func (l *ledger) queueState() (n int, oldest time.Time) {
	l.db.View(func(tx *bolt.Tx) error {
		q := tx.Bucket(bucketQueue)
		k, v := q.Cursor().First()
		if k == nil {
			return nil
		}
		n = q.Stats().KeyN
		var e queued
		if json.Unmarshal(v, &e) == nil {
			oldest = e.QueuedAt
		}
		return nil
	})
	return n, oldest
}

// putState stores named values in one transaction.
func (l *ledger) putState(kv map[string][]byte) error {
	return l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketState)
		for k, v := range kv {
			if err := b.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// state returns a named value, or nil.
func (l *ledger) state(key []byte) []byte {
	var out []byte
	l.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketState).Get(key); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out
}

func (l *ledger) timeState(key []byte) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, string(l.state(key)))
	return t
}

// usesHere is how often this till used a code.
func (l *ledger) usesHere(serial string) int {
	var u localUse
	l.db.View(func(tx *bolt.Tx) error {
		_, err := getJSON(tx.Bucket(bucketUses), []byte(serial), &u)
		return err
	})
	return u.Count
}
