package etcdstore

import (
	"slices"
	"sync"
	"sync/atomic"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stampseal/stampseal/storage"
)

// DefaultMirror is how many keys a store mirrors when Config.Mirror is 0.
const DefaultMirror = 100_000

// mirrorBytesPerKey bounds the mirror's keys and values together, on
// average per key it may hold: a mirror of n keys holds at most n KiB,
// however large some records grow.
const mirrorBytesPerKey = 1024

// The mirror is this node's copy of the keys of storage.Mirrored changed
// since it began to follow them. A write
// transaction's first attempt takes from it what its Prefetch asks for, so
// that a redemption sends one Txn and no read.
//
// Nothing depends on the mirror being up to date. Every key an attempt
// takes from it is compared at commit, as a key read from etcd is: an
// entry that the watch has not brought up to date yet makes the attempt
// lose, and the next attempt reads etcd. A stale mirror costs a retry,
// never a wrong decision. It holds at most max keys, dropping the oldest
// changes first.
type mirror struct {
	max     int
	buckets []string // the prefixes of the mirrored buckets

	mu    sync.RWMutex
	down  bool  // the watch is lost: the mirror serves nothing
	since int64 // every key changed after this revision is here, if not dropped
	keys  map[string]mirrored
	order []aged // changes, oldest first, to drop by
	bytes int    // of the keys and values held

	served atomic.Uint64 // keys an attempt took from the mirror
}

type mirrored struct {
	read          // the value and its ModRevision; modRev 0: deleted
	created int64 // the value's CreateRevision
	at      int64 // the revision of the change
}

type aged struct {
	key string
	at  int64
}

// startMirror follows storage.Mirrored from now until the store closes.
func (s *Store) startMirror(max int) error {
	m := &mirror{max: max, keys: map[string]mirrored{}}
	for _, b := range storage.Mirrored {
		m.buckets = append(m.buckets, s.bucketPrefix(b))
	}
	// Held until since is set: the hub may deliver a change as soon as the
	// mirror joins.
	m.mu.Lock()
	defer m.mu.Unlock()
	since, down, err := s.hub.join(s.life, s, m.buckets, stream{events: m.apply, lost: m.lost, resumed: m.resumed, back: m.back})
	if err != nil {
		return err
	}
	m.since, m.down = since, down
	s.mirror = m
	return nil
}

func (m *mirror) apply(evs []*clientv3.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ev := range evs {
		kv := ev.Kv
		e := mirrored{at: kv.ModRevision}
		if ev.Type == clientv3.EventTypePut {
			e.read = read{value: kv.Value, modRev: kv.ModRevision}
			e.created = kv.CreateRevision
		}
		m.put(string(kv.Key), e)
	}
	m.trim()
}

// wrote records what a Txn of this node committed at revision rev ahead
// of the watch, so that the node's next write about the same key (a
// card's next stamp) finds it instead of losing its first attempt.
func (m *mirror) wrote(t *tx, rev int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, c := range t.writes {
		if !m.mirrors(k) {
			continue
		}
		e := mirrored{at: rev}
		if !c.deleted {
			e.read = read{value: c.value, modRev: rev}
			old, had := m.keys[k]
			switch r, seen := t.reads[k]; {
			case seen && r.modRev == 0:
				e.created = rev // absent when read, and the commit checked it
			case had && old.modRev != 0:
				e.created = old.created
			}
		}
		m.put(k, e)
	}
	m.trim()
}

// put sets k's entry unless the mirror holds a later change of k (the
// watch and this node's commits may bring changes out of order).
func (m *mirror) put(k string, e mirrored) {
	old, ok := m.keys[k]
	if ok && old.at > e.at {
		return
	}
	if ok {
		m.bytes -= len(k) + len(old.value)
	}
	m.keys[k] = e
	m.bytes += len(k) + len(e.value)
	m.order = append(m.order, aged{k, e.at})
}

// trim drops the oldest changes past max keys or their bytes.
func (m *mirror) trim() {
	i := 0
	for ; i < len(m.order) && (len(m.keys) > m.max || m.bytes > m.max*mirrorBytesPerKey); i++ {
		a := m.order[i]
		if e, ok := m.keys[a.key]; ok && e.at == a.at {
			delete(m.keys, a.key)
			m.bytes -= len(a.key) + len(e.value)
			m.since = max(m.since, a.at)
		}
	}
	m.order = m.order[i:]
	if len(m.order) > 2*m.max+1024 {
		// Keys changed again and again leave old places behind.
		m.order = slices.DeleteFunc(m.order, func(a aged) bool { return m.keys[a.key].at != a.at })
	}
}

// lost stops the mirror from serving: changes are being missed.
func (m *mirror) lost() {
	m.mu.Lock()
	m.down = true
	m.mu.Unlock()
}

// resumed lets the mirror serve again: its watch went on from where it
// stopped, so what changed meanwhile reaches it (until then an entry may
// be behind, which costs a retry, as ever).
func (m *mirror) resumed() {
	m.mu.Lock()
	m.down = false
	m.mu.Unlock()
}

// back starts the mirror anew from revision from: what it held may have
// changed while its watch was away.
func (m *mirror) back(from int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.down = false
	m.keys, m.order, m.bytes = map[string]mirrored{}, nil, 0
	m.since = max(m.since, from-1)
}

// lookup returns key's entry, or that key is absent because follows (the
// same key of the bucket key's follows, "" for none) was created while the
// mirror followed both buckets: a change of key since would be here.
func (m *mirror) lookup(key, follows string) (read, bool) {
	if !m.mirrors(key) || follows != "" && !m.mirrors(follows) {
		return read{}, false
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.down {
		return read{}, false
	}
	if e, ok := m.keys[key]; ok {
		return e.read, true
	}
	if follows == "" {
		return read{}, false
	}
	e, ok := m.keys[follows]
	return read{}, ok && e.modRev != 0 && e.created > m.since
}

func (m *mirror) mirrors(key string) bool {
	return slices.ContainsFunc(m.buckets, func(bp string) bool { return len(key) > len(bp) && key[:len(bp)] == bp })
}

// fromMirror puts k in t.ahead from what this node knows, without a read:
// only in a write transaction's first attempt, whose commit checks it. A
// key the caller says is new is taken as absent.
func (t *tx) fromMirror(k storage.Key, full string) bool {
	m := t.s.mirror
	if !t.guess || m == nil {
		return false
	}
	if k.New {
		t.ahead[full] = read{}
		t.guessed = true
		return true
	}
	var follows string
	if k.Follows != "" {
		follows = t.s.key(k.Follows, k.Key)
	}
	r, ok := m.lookup(full, follows)
	if ok {
		t.ahead[full] = r
		t.guessed = true
		m.served.Add(1)
	}
	return ok
}

// Mirrors reports whether the store keeps a mirror (Config.Mirror).
func (s *Store) Mirrors() bool { return s.mirror != nil }

// MirrorKeys reports how many keys the mirror holds.
func (s *Store) MirrorKeys() int {
	if s.mirror == nil {
		return 0
	}
	s.mirror.mu.RLock()
	defer s.mirror.mu.RUnlock()
	return len(s.mirror.keys)
}

// MirrorServed reports how many keys write transactions took from the
// mirror instead of reading them from etcd.
func (s *Store) MirrorServed() uint64 {
	if s.mirror == nil {
		return 0
	}
	return s.mirror.served.Load()
}
