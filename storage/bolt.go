package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// maxBatch bounds how many writers share one commit, which bounds the
// latency a writer can wait behind others.
const maxBatch = 256

// Bolt is the embedded Backend: one bbolt file.
//
// Writes are group-committed: while one commit is being synced to disk,
// newly arriving writers queue, and the whole queue commits in the next
// transaction with one fsync. Under no load a write commits at once; under
// load the batch grows with the queue. When the queue is shorter than the
// last batch, the committer waits (at most half a commit's time) for the
// writers of the last batch to come back: they are usually busy checking
// their next signature, and one fsync can then serve them all.
type Bolt struct {
	db *bolt.DB

	mu         sync.Mutex
	pending    []*call
	running    bool
	want       int           // queue length that ends the committer's wait
	filled     chan struct{} // closed when the queue reaches want
	lastBatch  int
	lastCommit time.Duration
	wg         sync.WaitGroup // the committer goroutine, for Close

	commits, writes atomic.Uint64 // group-commit counters, for metrics
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
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range Buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("create buckets in %s: %w", path, err)
	}
	return &Bolt{db: db}, nil
}

// View runs fn in a read-only transaction.
func (s *Bolt) View(fn func(Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}

// Update runs fn in the next group commit and returns when it is durable.
func (s *Bolt) Update(fn func(Tx) error) error {
	c := &call{fn: fn, done: make(chan error, 1)}
	s.mu.Lock()
	s.pending = append(s.pending, c)
	if s.filled != nil && len(s.pending) >= s.want {
		close(s.filled)
		s.filled = nil
	}
	if !s.running {
		s.running = true
		s.wg.Add(1)
		go s.commitLoop()
	}
	s.mu.Unlock()
	return <-c.done
}

func (s *Bolt) commitLoop() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if n := len(s.pending); n > 0 && n < s.lastBatch && s.lastCommit > 0 {
			s.want, s.filled = s.lastBatch, make(chan struct{})
			filled, wait := s.filled, s.lastCommit/2
			s.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-filled:
			case <-t.C:
			}
			t.Stop()
			s.mu.Lock()
			s.filled = nil
		}
		calls := s.pending
		if len(calls) > maxBatch {
			calls = calls[:maxBatch:maxBatch]
		}
		s.pending = s.pending[len(calls):]
		if len(calls) == 0 {
			s.running = false
			s.pending = nil
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		s.commits.Add(1)
		s.writes.Add(uint64(len(calls)))
		start := time.Now()
		s.commit(calls)
		s.mu.Lock()
		s.lastBatch, s.lastCommit = len(calls), time.Since(start)
		s.mu.Unlock()
	}
}

// commit runs calls in one transaction. A call whose fn fails is taken out
// and run alone, so that it gets its own error and the others still commit.
func (s *Bolt) commit(calls []*call) {
	for len(calls) > 0 {
		failed := -1
		err := s.db.Update(func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := c.fn(boltTx{tx}); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			err = classify(err)
			for _, c := range calls {
				c.done <- err
			}
			return
		}
		c := calls[failed]
		c.done <- classify(s.db.Update(func(tx *bolt.Tx) error { return c.fn(boltTx{tx}) }))
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
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

// Close waits for queued writes and closes the file.
func (s *Bolt) Close() error {
	s.wg.Wait()
	return s.db.Close()
}

type boltTx struct{ tx *bolt.Tx }

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

func (t boltTx) Sequence(b Bucket) (uint64, error) { return t.bucket(b).NextSequence() }
