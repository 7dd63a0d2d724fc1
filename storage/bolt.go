package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/stampseal/stampseal/internal/runq"
)

// maxBatch bounds how many writers share one commit, which bounds the
// latency a writer can wait behind others.
const maxBatch = 256

// The committer steps aside for goroutines waiting for a CPU (gather) in
// steps of runq.Step, for at most the last commit's time or minGather,
// whichever is longer (a commit on a fast disk is shorter than one busy
// core's dozen signature checks).
const minGather = time.Millisecond

// Bolt is the embedded Backend: one bbolt file.
//
// Writes are group-committed: while one commit is being synced to disk,
// newly arriving writers queue, and the whole queue commits in the next
// transaction (bbolt syncs each commit twice: data pages, then meta).
// Under no load a write commits at once; under load the batch grows with
// the queue.
//
// A commit costs far more CPU than one write in it (two fdatasyncs, the
// page writes, the kernel's journal), so on a busy server fewer, fuller
// commits leave more CPU for signatures. Before a commit, the committer
// therefore steps aside while goroutines of this process wait for a CPU,
// for at most one commit's time: on a busy server they are mostly writers
// finishing their checks, and the commit then serves them too. With nothing
// waiting for a CPU it commits at once, so a lightly loaded server adds no
// wait.
type Bolt struct {
	db *bolt.DB

	mu         sync.Mutex
	pending    []*call
	lastCommit time.Duration // how long the last commit took
	closed     bool          // Update refuses from Close on
	// The committer lives as long as the store: one started per burst of
	// writes grew its stack again (copystack) for every commit of a lightly
	// loaded server, 1.4% of its CPU at half of peak.
	wake    chan struct{} // a write is pending (capacity 1)
	stopped chan struct{} // closed when the committer has returned

	commits, writes atomic.Uint64 // group-commit counters, for metrics
	observe         atomic.Pointer[func(writes int, took time.Duration)]
}

type call struct {
	fn   func(Tx) error
	done chan error
}

// OpenBolt opens (creating if needed) the bbolt file at path and its buckets.
func OpenBolt(path string) (*Bolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: 2 * time.Second,
		// The freelist is rebuilt on open instead of being rewritten by
		// every commit: fewer pages per fsync, same durability of data.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Reserve address space up front so that growth rarely remaps
		// (a remap waits for every open transaction).
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		return nil, fmt.Errorf("open ledger: %w", err) // bbolt's error names the path
	}
	if err := db.Update(prepare); err != nil {
		db.Close()
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	s := &Bolt{db: db, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	go s.commitLoop()
	return s, nil
}

// Layout is the version of the ledger's layout this build reads and writes.
// Layout 1 (no version key) kept uses inside credential records; layout 2
// appends them to the History journal.
const Layout = 2

var layoutKey = []byte("layout")

// ErrLayout is returned when opening a ledger of another layout: reading it
// as this one could forget uses, so it is refused rather than migrated.
var ErrLayout = errors.New("storage: ledger written in another layout")

// prepare creates the buckets and checks or records the layout.
func prepare(tx *bolt.Tx) error {
	for _, b := range Buckets {
		if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	meta := tx.Bucket([]byte(Meta))
	want := []byte(strconv.Itoa(Layout))
	switch got := meta.Get(layoutKey); {
	case got == nil:
		if k, _ := tx.Bucket([]byte(Credentials)).Cursor().First(); k != nil {
			return fmt.Errorf("%w: layout 1 (an older stampseal), this build reads layout %d", ErrLayout, Layout)
		}
		return meta.Put(layoutKey, want)
	case !bytes.Equal(got, want):
		return fmt.Errorf("%w: layout %s, this build reads layout %d", ErrLayout, got, Layout)
	}
	return nil
}

// View runs fn in a read-only transaction.
func (s *Bolt) View(fn func(Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx: tx}) })
}

// Update runs fn in the next group commit and returns when it is durable.
func (s *Bolt) Update(fn func(Tx) error) error {
	c := &call{fn: fn, done: make(chan error, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return bolt.ErrDatabaseNotOpen
	}
	s.pending = append(s.pending, c)
	s.mu.Unlock()
	s.nudge()
	return <-c.done
}

func (s *Bolt) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// commitLoop commits what is pending, batch after batch, and waits for the
// next write when nothing is; it returns once the store is closed and
// every write queued before is answered.
func (s *Bolt) commitLoop() {
	defer close(s.stopped)
	for {
		s.mu.Lock()
		if len(s.pending) == 0 {
			closed := s.closed
			s.pending = nil
			s.mu.Unlock()
			if closed {
				return
			}
			<-s.wake
			continue
		}
		if len(s.pending) < maxBatch {
			deadline := time.Now().Add(max(s.lastCommit, minGather))
			s.mu.Unlock()
			s.gather(deadline)
			s.mu.Lock()
		}
		calls := s.pending
		if len(calls) > maxBatch {
			calls = calls[:maxBatch:maxBatch]
		}
		s.pending = s.pending[len(calls):]
		s.mu.Unlock()
		s.commits.Add(1)
		s.writes.Add(uint64(len(calls)))
		start := time.Now()
		s.commit(calls)
		s.mu.Lock()
		s.lastCommit = time.Since(start)
		s.mu.Unlock()
	}
}

// gather steps aside, a short sleep at a time, while goroutines wait for a
// CPU, until none does, a batch is full, deadline passes, or two steps in a
// row bring no writer (what runs is then not writers). Yielding with
// runtime.Gosched instead spins the committer through the run queue and
// costs more CPU than it saves.
func (s *Bolt) gather(deadline time.Time) {
	for idle := 0; idle < 2 && runq.Waiting() && time.Now().Before(deadline); {
		n := s.queued()
		if n >= maxBatch {
			return
		}
		time.Sleep(runq.Step)
		if s.queued() == n {
			idle++
		} else {
			idle = 0
		}
	}
}

func (s *Bolt) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// commit runs calls in one transaction. A call whose fn fails is taken out
// and run alone, so that it gets its own error and the others still commit.
// The OnEnd hooks of each attempt run before its callers are answered and
// before the next attempt begins.
func (s *Bolt) commit(calls []*call) {
	for len(calls) > 0 {
		failed := -1
		start := time.Now()
		err := s.update(func(tx Tx) error {
			for i, c := range calls {
				if err := c.fn(tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			if fn := s.observe.Load(); fn != nil && err == nil {
				(*fn)(len(calls), time.Since(start)) // before the callers hear of it
			}
			err = classify(err)
			for _, c := range calls {
				c.done <- err
			}
			return
		}
		c := calls[failed]
		c.done <- classify(s.update(c.fn))
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
}

// update runs fn in one bbolt write transaction, then its OnEnd hooks.
func (s *Bolt) update(fn func(Tx) error) error {
	var hooks []func(bool)
	err := s.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx, &hooks}) })
	for _, h := range hooks {
		h(err == nil)
	}
	return err
}

// classify marks failures of the medium so that callers can answer 503.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EIO) ||
		errors.Is(err, syscall.EDQUOT) || errors.Is(err, bolt.ErrDatabaseReadOnly) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// Backup writes a consistent snapshot; readers and writers go on meanwhile.
func (s *Bolt) Backup(w io.Writer) (int64, error) {
	var n int64
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Stats reports bbolt's counters, for metrics.
func (s *Bolt) Stats() bolt.Stats { return s.db.Stats() }

// GroupCommits reports how many commits ran and how many writes they carried.
func (s *Bolt) GroupCommits() (commits, writes uint64) { return s.commits.Load(), s.writes.Load() }

// ObserveCommits makes every successful group commit report, before its
// writers are answered, how many writes it carried and how long it took to
// be durable: the floor under the latency
// of every write, set by the disk's fsync.
func (s *Bolt) ObserveCommits(fn func(writes int, took time.Duration)) { s.observe.Store(&fn) }

// Close waits for queued writes and closes the file; an Update called
// from now on fails with bbolt's ErrDatabaseNotOpen.
func (s *Bolt) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.nudge()
	<-s.stopped
	return s.db.Close()
}

type boltTx struct {
	tx    *bolt.Tx
	hooks *[]func(committed bool) // nil in read-only transactions
}

func (t boltTx) bucket(b Bucket) *bolt.Bucket {
	bk := t.tx.Bucket([]byte(b))
	if bk == nil {
		// Buckets are created at open; a missing one is a programming error.
		panic("storage: unknown bucket " + string(b))
	}
	return bk
}

func (t boltTx) Get(b Bucket, key []byte) []byte { return t.bucket(b).Get(key) }

func (t boltTx) Put(b Bucket, key, value []byte) error { return t.bucket(b).Put(key, value) }

func (t boltTx) Delete(b Bucket, key []byte) error { return t.bucket(b).Delete(key) }

func (t boltTx) Scan(b Bucket, prefix []byte, fn func(k, v []byte) error) error {
	c := t.bucket(b).Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (t boltTx) ScanFrom(b Bucket, from []byte, fn func(k, v []byte) error) error {
	c := t.bucket(b).Cursor()
	for k, v := c.Seek(from); k != nil; k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (t boltTx) Sequence(b Bucket) (uint64, error) { return t.bucket(b).NextSequence() }

func (t boltTx) OnEnd(fn func(committed bool)) {
	if t.hooks == nil {
		panic("storage: OnEnd in a read-only transaction")
	}
	*t.hooks = append(*t.hooks, fn)
}
