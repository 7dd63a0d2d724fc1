package etcdstore

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stampseal/stampseal/storage"
)

// Watch calls fn with the key of every put or delete in bucket b by any
// node, from the moment Watch returns until ctx ends. A watch lost for a
// while (no leader, the member gone) goes on from where it stopped, and fn
// gets the changes made meanwhile; only when etcd has compacted them away
// does fn get a nil key once the watch is back: anything in b may have
// changed.
func (s *Store) Watch(ctx context.Context, b storage.Bucket, fn func(key []byte)) error {
	return s.WatchValues(ctx, b, func(k, _ []byte) { fn(k) })
}

// WatchValues is Watch with the value of every change: the new value of a
// put, nil for a delete.
func (s *Store) WatchValues(ctx context.Context, b storage.Bucket, fn func(key, value []byte)) error {
	bp := s.bucketPrefix(b)
	_, _, err := s.hub.join(ctx, s, []string{bp}, stream{
		events: func(evs []*clientv3.Event) {
			for _, ev := range evs {
				var v []byte
				if ev.Type == clientv3.EventTypePut {
					v = ev.Kv.Value
				}
				fn(ev.Kv.Key[len(bp):], v)
			}
		},
		back: func(int64) { fn(nil, nil) },
	})
	return err
}

// stream is what a subscriber of the hub hears: the changes of its buckets
// in one watch response; that the watch was lost (optional); that it
// resumed where it stopped, so that nothing was missed (optional); or that
// it is back from a revision read anew, after which anything may have
// changed (etcd no longer held what changed in between).
type stream struct {
	events  func(evs []*clientv3.Event)
	lost    func()
	resumed func()
	back    func(from int64)
}

// A node follows the ledger with one etcd watch over the store's whole
// prefix, the hub, and every part of the node that follows a bucket (key
// rings, API keys, the blocklist, the owner's figures, the mirror)
// subscribes to it. A change then reaches the node once however many parts
// follow its bucket: a redemption's journal event and serial record, which
// the owner's figures and the mirror both follow, arrive in one message.
// With a watch per bucket and part, each node received several messages
// per redemption, and a fleet spent its CPU on them.
type hub struct {
	mu      sync.Mutex
	subs    []*subscriber
	running bool
	seen    int64 // every change up to this revision was dispatched
	down    bool  // the watch is lost and not back yet

	responses atomic.Uint64 // received, for benchmarks and tests
	// Restarts after a lost watch, for metrics: resumed from where it
	// stopped, or anew (etcd had compacted what it missed).
	resumes, anew atomic.Uint64
}

type subscriber struct {
	prefixes []string // of the buckets it follows
	st       stream
	done     <-chan struct{}
}

// join subscribes st to the changes under prefixes from now until ctx (or
// the store) ends, starting the hub's watch on the first call. It returns
// the revision after which every change reaches st, and whether the watch
// is lost now (st then hears of its return).
func (h *hub) join(ctx context.Context, s *Store, prefixes []string, st stream) (since int64, down bool, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.running {
		// The revision now: the watch starts right after it, so that no
		// change made after join returns is missed however late the stream
		// opens.
		rev, err := s.revision()
		if err != nil {
			return 0, false, err
		}
		h.running, h.seen = true, rev
		go h.follow(s, rev+1)
	}
	h.subs = append(h.subs, &subscriber{prefixes: prefixes, st: st, done: ctx.Done()})
	return h.seen, h.down, nil
}

// dispatch gives each subscriber the events of one response under its
// prefixes; every change up to revision seen has then been dispatched. It
// holds h.mu, so a subscriber joins between two responses.
func (h *hub) dispatch(resp *clientv3.WatchResponse, seen int64) {
	h.responses.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subs = slices.DeleteFunc(h.subs, (*subscriber).ended)
	for _, sub := range h.subs {
		var mine []*clientv3.Event
		for _, ev := range resp.Events {
			if sub.follows(ev.Kv.Key) {
				mine = append(mine, ev)
			}
		}
		if len(mine) > 0 {
			sub.st.events(mine)
		}
	}
	h.seen = seen
}

// lost tells the subscribers, once per outage, that changes may be
// arriving late.
func (h *hub) lost() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		h.down = true
		h.each(func(st *stream) {
			if st.lost != nil {
				st.lost()
			}
		})
	}
}

// resumed tells the subscribers that the watch runs again from where it
// stopped: what changed meanwhile follows.
func (h *hub) resumed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		h.down = false
		h.resumes.Add(1)
		h.each(func(st *stream) {
			if st.resumed != nil {
				st.resumed()
			}
		})
	}
}

// back tells the subscribers that the watch runs again from revision from,
// after which anything may have changed.
func (h *hub) back(from int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.down, h.seen = false, from-1
	h.anew.Add(1)
	h.each(func(st *stream) { st.back(from) })
}

// each calls tell for every subscriber whose context has not ended. Called
// with h.mu held.
func (h *hub) each(tell func(st *stream)) {
	for _, sub := range h.subs {
		if !sub.ended() {
			tell(&sub.st)
		}
	}
}

func (sub *subscriber) ended() bool {
	select {
	case <-sub.done:
		return true
	default:
		return false
	}
}

func (sub *subscriber) follows(key []byte) bool {
	return slices.ContainsFunc(sub.prefixes, func(p string) bool {
		return len(key) > len(p) && string(key[:len(p)]) == p
	})
}

// follow runs the hub's watch from revision from until the store closes.
// A lost watch (no leader, the member gone) starts again from where it
// stopped: etcd keeps every change until it is compacted, so the
// subscribers miss nothing and keep what they hold. Only when etcd no
// longer has the changes after from does the watch start again from now,
// and every subscriber hears that anything may have changed: a node's
// owner's figures then read the whole ledger again, which a blip of the
// cluster (a member without a leader for a while) must not cause on every
// node.
func (h *hub) follow(s *Store, from int64) {
	ctx := s.life
	pause := 50 * time.Millisecond
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		ch := s.cli.Watch(wctx, s.cfg.Prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithCreatedNotify())
		compacted := false
		for resp := range ch {
			if resp.CompactRevision != 0 {
				compacted = true
				break
			}
			if resp.Canceled || resp.Err() != nil {
				break
			}
			if resp.Created {
				h.resumed() // from from on, what changed meanwhile comes first
				continue
			}
			if len(resp.Events) == 0 {
				continue
			}
			// The last event's revision, not the header's: a catch-up
			// response may carry only part of what its header's revision
			// covers, the rest coming next, and a watch lost in between
			// must go on from the first change it did not deliver.
			from = resp.Events[len(resp.Events)-1].Kv.ModRevision + 1
			h.dispatch(&resp, from-1)
			pause = 50 * time.Millisecond
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		h.lost()
		if !compacted {
			pause = backOff(ctx, pause)
			continue
		}
		// Start again from now, then say that anything may have changed:
		// a change made between the two is seen by the new watch.
		for ctx.Err() == nil {
			if rev, err := s.revision(); err == nil {
				from = rev + 1
				break
			}
			pause = backOff(ctx, pause)
		}
		if ctx.Err() != nil {
			return
		}
		h.back(from)
	}
}

// backOff waits pause or until ctx ends, and returns the next pause:
// twice as long, at most a second.
func backOff(ctx context.Context, pause time.Duration) time.Duration {
	select {
	case <-ctx.Done():
	case <-time.After(pause):
	}
	return min(2*pause, time.Second)
}

// revision is the cluster's revision now, read from a quorum: one key's
// read, not a count of a bucket, which etcd would make by walking it.
func (s *Store) revision() (int64, error) {
	ctx, cancel := s.opContext()
	defer cancel()
	resp, err := s.cli.Get(ctx, s.key(storage.Meta, layoutKey), clientv3.WithKeysOnly())
	if err != nil {
		return 0, classify(err)
	}
	return resp.Header.Revision, nil
}
