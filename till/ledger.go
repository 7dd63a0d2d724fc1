package till

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stampseal/stampseal/client"
	"github.com/stampseal/stampseal/offline"
)

// The agent's own ledger, one bbolt file: the queue of operations decided
// offline, in order; a log of the single-use codes used at this till and
// already reported to the server; the answers given offline, for retries;
// and the agent's state. Both the queue and the log are keyed by sequence
// number, so that an offline redemption's commit appends to one page
// instead of rewriting pages scattered by serial (what a commit costs,
// with fsync on, is the pages it writes). What a decision must know (a
// code's uses here, what the till has spent offline) is indexed in memory,
// rebuilt from the two at open.
var (
	bucketQueue   = []byte("queue")   // sequence -> queued
	bucketUsed    = []byte("used")    // sequence -> usedEntry: synced or online uses of single-use codes
	bucketAnswers = []byte("answers") // idempotency key -> answer given offline
	bucketState   = []byte("state")   // name -> value
)

// State keys.
var (
	keySnapshot   = []byte("snapshot")    // the snapshot as the server sent it
	keyETag       = []byte("etag")        // its ETag
	keySnapshotAt = []byte("snapshot_at") // when it was fetched (RFC 3339)
	keyContact    = []byte("contact")     // when the server last answered
	keyDisowned   = []byte("disowned")    // "true" once the server refused the till's key
)

// queued is an operation waiting for the server.
type queued struct {
	Op       client.SyncOperation `json:"op"`
	Serial   string               `json:"serial,omitempty"` // of the single-use code, if any
	Value    int64                `json:"value,omitempty"`  // counted against the value cap
	QueuedAt time.Time            `json:"queued_at"`
}

// usedEntry is a use of a single-use code at this till that the server
// knows of.
type usedEntry struct {
	Serial   string    `json:"serial"`
	At       time.Time `json:"at"`
	Register string    `json:"register"`
}

// localUse is what this till knows of a code's uses.
type localUse struct {
	Count    int       // uses at this till, online and offline
	Pending  int       // offline uses not yet acknowledged by the server
	At       time.Time // the first use here
	Register string
}

// offlineSpent is what the till redeemed offline and has not yet reported,
// for the merchant's caps.
type offlineSpent struct {
	Redemptions int
	Value       int64
}

type ledger struct {
	db *bolt.DB

	mu     sync.Mutex // held across each write, so that check and mark are one step
	uses   map[string]*localUse
	spent  offlineSpent
	queued int
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
	l := &ledger{db: db, uses: map[string]*localUse{}}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketQueue, bucketUsed, bucketAnswers, bucketState} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = l.load()
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

// load rebuilds the in-memory index: the log first, then the queue, in
// the order the uses happened.
func (l *ledger) load() error {
	return l.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketUsed).ForEach(func(k, v []byte) error {
			var e usedEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("used entry %x: %w", k, err)
			}
			l.use(e.Serial, e.At, e.Register, false)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketQueue).ForEach(func(k, v []byte) error {
			var q queued
			if err := json.Unmarshal(v, &q); err != nil {
				return fmt.Errorf("queue entry %x: %w", k, err)
			}
			l.enqueued(&q)
			return nil
		})
	})
}

// use counts a use of serial in the index.
func (l *ledger) use(serial string, at time.Time, register string, pending bool) {
	u := l.uses[serial]
	if u == nil {
		u = &localUse{At: at, Register: register}
		l.uses[serial] = u
	}
	u.Count++
	if pending {
		u.Pending++
	}
}

// enqueued adds a queued operation to the index.
func (l *ledger) enqueued(q *queued) {
	l.queued++
	if q.Serial != "" {
		l.use(q.Serial, q.Op.At, q.Op.Register, true)
		l.spent.Redemptions++
		l.spent.Value += q.Value
	}
}

func (l *ledger) close() error { return l.db.Close() }

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

func appendJSON(b *bolt.Bucket, v any) error {
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return putJSON(b, binary.BigEndian.AppendUint64(nil, seq), v)
}

// usedHere is a single-use code this till already used and has not yet
// reported: honouring it again, online or not, would spend it twice.
type usedHere struct {
	At       time.Time
	Register string
}

func (e *usedHere) Error() string { return "already used at this till" }

// errCapReached is an offline redemption over the merchant's till caps.
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

// record checks and marks as one step: the code has uses left at this
// till and the caps have room; then it queues the operation, with the
// answer for retries, durably.
func (l *ledger) record(s spend) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.q.Serial != "" {
		if u := l.uses[s.q.Serial]; u != nil && u.Count >= max(s.maxUses, 1) {
			return &usedHere{At: u.At, Register: u.Register}
		}
		if (s.caps.Redemptions > 0 && l.spent.Redemptions+1 > s.caps.Redemptions) ||
			(s.caps.Value > 0 && l.spent.Value+s.q.Value > s.caps.Value) {
			return errCapReached
		}
	}
	err := l.db.Update(func(tx *bolt.Tx) error {
		if err := appendJSON(tx.Bucket(bucketQueue), s.q); err != nil {
			return err
		}
		if s.answer == nil {
			return nil
		}
		return tx.Bucket(bucketAnswers).Put([]byte(s.q.Op.IdempotencyKey), s.answer)
	})
	if err == nil {
		l.enqueued(&s.q)
	}
	return err
}

// pendingUse reports a code used offline at this till and not yet synced,
// with no use left here.
func (l *ledger) pendingUse(serial string, maxUses int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u := l.uses[serial]; u != nil && u.Pending > 0 && u.Count >= max(maxUses, 1) {
		return &usedHere{At: u.At, Register: u.Register}
	}
	return nil
}

// usesHere is how often this till used a code.
func (l *ledger) usesHere(serial string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u := l.uses[serial]; u != nil {
		return u.Count
	}
	return 0
}

// noteUse counts a use the server granted online.
func (l *ledger) noteUse(serial, register string, at time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.db.Update(func(tx *bolt.Tx) error {
		return appendJSON(tx.Bucket(bucketUsed), usedEntry{Serial: serial, At: at, Register: register})
	})
	if err == nil {
		l.use(serial, at, register, false)
	}
	return err
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
// the uses of single-use codes among them move to the log of reported
// uses, so that this till still never honours them again.
func (l *ledger) forget(done []entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.db.Update(func(tx *bolt.Tx) error {
		q, used, answers := tx.Bucket(bucketQueue), tx.Bucket(bucketUsed), tx.Bucket(bucketAnswers)
		for _, e := range done {
			if err := q.Delete(binary.BigEndian.AppendUint64(nil, e.seq)); err != nil {
				return err
			}
			if err := answers.Delete([]byte(e.Op.IdempotencyKey)); err != nil {
				return err
			}
			if e.Serial != "" {
				if err := appendJSON(used, usedEntry{Serial: e.Serial, At: e.Op.At, Register: e.Op.Register}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range done {
		l.queued--
		if e.Serial == "" {
			continue
		}
		if u := l.uses[e.Serial]; u != nil {
			u.Pending = max(u.Pending-1, 0)
		}
		l.spent.Redemptions--
		l.spent.Value -= e.Value
	}
	return nil
}

// queueState is the queue's length and its oldest operation's time.
func (l *ledger) queueState() (n int, oldest time.Time) {
	l.mu.Lock()
	n = l.queued
	l.mu.Unlock()
	if n == 0 {
		return 0, time.Time{}
	}
	l.db.View(func(tx *bolt.Tx) error {
		if k, v := tx.Bucket(bucketQueue).Cursor().First(); k != nil {
			var e queued
			if json.Unmarshal(v, &e) == nil {
				oldest = e.QueuedAt
			}
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
