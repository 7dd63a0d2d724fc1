package etcdstore

import (
	"errors"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stampseal/stampseal/storage"
)

// Group commit. A redemption is one Txn of two compares and two puts, and
// etcd's cost is mostly per Txn, not per key: a raft entry, a WAL record,
// a gRPC call, an apply, and a watch response to every node. So while a
// node has Config.InFlight Txns in flight, the write transactions that
// become ready queue, and the next Txn carries every queued one whose keys
// no other in it touches: all their compares and all their writes.
//
// Transactions that share no key (beyond reading one at the same
// revision) commute, so the merged Txn is serializable: each member's
// compares check exactly what it read, and no other member writes it.
// When the merged Txn fails a compare, its members are sent again one by
// one, so that each gets its own answer: a redemption that lost the race
// for its coupon does not fail its neighbours.
type batcher struct {
	s        *Store
	inFlight int

	mu     sync.Mutex
	queue  []*queued
	flying int // Txns of this batcher in flight
}

// queued is a transaction waiting for a Txn, and its answer.
type queued struct {
	t    *tx
	cmps []clientv3.Cmp
	done chan error
}

// errAlone tells a member of a merged Txn that failed a compare to send
// its transaction alone.
var errAlone = errors.New("etcd: send alone")

// mergeable reports whether t may share a Txn: it writes, and checks its
// reads key by key (a scanned range or a bucket compare could cover
// another member's writes).
func (t *tx) mergeable() bool {
	max := t.s.cfg.MaxTxnOps
	return len(t.writes) > 0 && len(t.ranges) == 0 && len(t.seen) == 0 && len(t.reads) <= max && len(t.writes) <= max
}

// commit sends t in the next Txn, with whatever else is queued then.
func (b *batcher) commit(t *tx, cmps []clientv3.Cmp) error {
	q := &queued{t: t, cmps: cmps, done: make(chan error, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, q)
	if b.flying < b.inFlight {
		b.flying++
		batch := b.take()
		b.mu.Unlock()
		b.flush(batch)
	} else {
		b.mu.Unlock()
	}
	if err := <-q.done; err != errAlone {
		return err
	}
	return t.send(cmps)
}

// maxBatchBytes bounds the values one merged Txn carries, well below
// etcd's default --max-request-bytes (1.5 MiB).
const maxBatchBytes = 256 << 10

// take removes from the queue, in order, the transactions that fit in one
// Txn: disjoint keys, at most MaxTxnOps compares and writes, and at most
// maxBatchBytes of values. The first always fits. Called with b.mu held.
func (b *batcher) take() []*queued {
	max := b.s.cfg.MaxTxnOps
	var batch, rest []*queued
	written := map[string]bool{}
	read := map[string]int64{}
	ncmps, nops, size := 0, 0, 0
	for _, q := range b.queue {
		n := q.t.size()
		if len(batch) > 0 && (!b.fits(q.t, written, read) || ncmps+len(q.cmps) > max || nops+len(q.t.writes) > max || size+n > maxBatchBytes) {
			rest = append(rest, q)
			continue
		}
		size += n
		ncmps += len(q.cmps)
		for k, r := range q.t.reads {
			read[k] = r.modRev
		}
		for k := range q.t.writes {
			written[k] = true
		}
		nops += len(q.t.writes)
		batch = append(batch, q)
	}
	b.queue = rest
	return batch
}

// size is how many bytes of keys and values t writes.
func (t *tx) size() int {
	n := 0
	for k, c := range t.writes {
		n += len(k) + len(c.value)
	}
	return n
}

// fits reports whether t touches no key that the batch so far writes,
// writes no key it reads, and reads a key it reads only at the same
// revision (one compare then checks it for both).
func (b *batcher) fits(t *tx, written map[string]bool, read map[string]int64) bool {
	for k := range t.writes {
		if written[k] {
			return false
		}
		if _, ok := read[k]; ok {
			return false
		}
	}
	for k, r := range t.reads {
		if written[k] {
			return false
		}
		if rev, ok := read[k]; ok && rev != r.modRev {
			return false
		}
	}
	return true
}

// flush sends batch and answers its members, then lands.
func (b *batcher) flush(batch []*queued) {
	b.send(batch)
	b.landed()
}

// landed ends a flight: the transactions queued meanwhile leave in the
// next, from a goroutine of its own (the caller answers its own request
// now), or the flight is given back.
func (b *batcher) landed() {
	b.mu.Lock()
	if len(b.queue) == 0 {
		b.flying--
		b.mu.Unlock()
		return
	}
	next := b.take()
	b.mu.Unlock()
	go b.flush(next)
}

// send commits batch as one Txn.
func (b *batcher) send(batch []*queued) {
	if len(batch) == 1 {
		q := batch[0]
		q.done <- q.t.send(q.cmps)
		return
	}
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	for _, q := range batch {
		cmps = append(cmps, q.cmps...) // a key two members read is compared twice, to the same revision
		ops = append(ops, q.t.ops()...)
	}
	rev, err := b.s.txn(cmps, ops)
	b.s.carried(len(batch))
	for _, q := range batch {
		switch {
		case err == nil:
			q.t.committed(rev)
			q.done <- nil
		case errors.Is(err, storage.ErrUnavailable):
			q.done <- err
		default:
			// A compare failed, or etcd refused the merged Txn (larger
			// than its limits): each member alone, for its own answer.
			q.done <- errAlone
		}
	}
}
