// Package sharedtest makes an embedded bbolt store look like a shared one
// (storage.Shared), for tests of what several stampseal nodes do on one
// backend without an etcd cluster: every Verifier, Monitor and cache built
// over the wrapper takes the shared paths, and Watch reports the writes
// that the wrapper sees committed. It is a test fixture over a real bbolt
// file, not a fake: transactions are bbolt's.
package sharedtest

import (
	"context"
	"io"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stampseal/stampseal/storage"
)

// Store is a storage.Shared over one storage.Backend: the first handle,
// which closes the backend, or a node's handle (Node), which closes only
// its own watches, as each stampseal node has its own etcd client.
type Store struct {
	storage.Backend
	hub  *hub
	node bool

	mu   sync.Mutex
	mine []*watcher // this handle's watches
}

// hub reports commits to every handle's watchers.
type hub struct {
	mu       sync.Mutex
	watchers []*watcher
}

type change struct {
	b   storage.Bucket
	key []byte
}

type watcher struct {
	b    storage.Bucket
	fn   func(key []byte)
	mu   sync.Mutex
	cond *sync.Cond
	q    [][]byte
	done bool
}

// Wrap returns b as a shared store.
func Wrap(b storage.Backend) *Store { return &Store{Backend: b, hub: &hub{}} }

// Node returns another handle on the same store, for one node: its
// watches hear every handle's commits, and its Close ends only them.
func (s *Store) Node() *Store { return &Store{Backend: s.Backend, hub: s.hub, node: true} }

// Open opens a bbolt file in a temporary directory of t, wrapped, and
// closes it when the test ends.
func Open(t testing.TB) *Store {
	t.Helper()
	b, err := storage.OpenBolt(filepath.Join(t.TempDir(), "shared.db"))
	if err != nil {
		t.Fatalf("sharedtest: open bolt: %v", err)
	}
	s := Wrap(b)
	t.Cleanup(func() { s.Close() })
	return s
}

// Update runs fn as the wrapped backend does and, once its transaction
// committed, reports its puts and deletes to the watchers.
func (s *Store) Update(fn func(storage.Tx) error) error {
	return s.Backend.Update(func(tx storage.Tx) error {
		rec := &recorder{Tx: tx}
		tx.OnEnd(func(committed bool) {
			if committed {
				s.hub.publish(rec.changes)
			}
		})
		return fn(rec)
	})
}

// recorder is a transaction that remembers what it wrote.
type recorder struct {
	storage.Tx
	changes []change
}

func (r *recorder) Put(b storage.Bucket, key, value []byte) error {
	if err := r.Tx.Put(b, key, value); err != nil {
		return err
	}
	r.changes = append(r.changes, change{b, append([]byte(nil), key...)})
	return nil
}

func (r *recorder) Delete(b storage.Bucket, key []byte) error {
	if err := r.Tx.Delete(b, key); err != nil {
		return err
	}
	r.changes = append(r.changes, change{b, append([]byte(nil), key...)})
	return nil
}

func (h *hub) publish(cs []change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.watchers {
		w.mu.Lock()
		for _, c := range cs {
			if c.b == w.b {
				w.q = append(w.q, c.key)
			}
		}
		w.cond.Signal()
		w.mu.Unlock()
	}
}

// Watch calls fn with the key of every change to bucket b committed
// through this Store from now until ctx ends, in commit order, one at a
// time.
func (s *Store) Watch(ctx context.Context, b storage.Bucket, fn func(key []byte)) error {
	w := &watcher{b: b, fn: fn}
	w.cond = sync.NewCond(&w.mu)
	s.hub.mu.Lock()
	s.hub.watchers = append(s.hub.watchers, w)
	s.hub.mu.Unlock()
	s.mu.Lock()
	s.mine = append(s.mine, w)
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.hub.drop(w)
	}()
	go w.run()
	return nil
}

// Lost makes every watcher of bucket b hear a nil key, as after a lost
// connection: drop the whole cache.
func (s *Store) Lost(b storage.Bucket) { s.hub.publish([]change{{b, nil}}) }

func (h *hub) drop(w *watcher) {
	h.mu.Lock()
	for i, x := range h.watchers {
		if x == w {
			h.watchers = append(h.watchers[:i:i], h.watchers[i+1:]...)
			break
		}
	}
	h.mu.Unlock()
	w.mu.Lock()
	w.done = true
	w.cond.Signal()
	w.mu.Unlock()
}

func (w *watcher) run() {
	for {
		w.mu.Lock()
		for len(w.q) == 0 && !w.done {
			w.cond.Wait()
		}
		if w.done {
			w.mu.Unlock()
			return
		}
		k := w.q[0]
		w.q = w.q[1:]
		w.mu.Unlock()
		w.fn(k)
	}
}

// Close ends this handle's watches and, unless it is a node's handle,
// closes the wrapped backend.
func (s *Store) Close() error {
	s.mu.Lock()
	ws := s.mine
	s.mine = nil
	s.mu.Unlock()
	for _, w := range ws {
		s.hub.drop(w)
	}
	if s.node {
		return nil
	}
	return s.Backend.Close()
}

// Backup writes the wrapped backend's snapshot.
func (s *Store) Backup(w io.Writer) (int64, error) { return s.Backend.Backup(w) }

var _ storage.Shared = (*Store)(nil)
