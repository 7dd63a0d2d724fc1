package storage

import (
	"context"
	"fmt"
)

// Shared is a Backend that several stampseal nodes write at once (etcd).
//
// On a shared backend an in-memory index kept in step by Tx.OnEnd sees only
// this node's writes, so it is never authoritative: a decision reads what
// it needs inside its transaction (the backend aborts and re-runs the
// transaction when anything it read was changed by another node before it
// committed), and a node caches only what cannot go stale or what Watch
// invalidates (keysets, API keys, the blocklist). The backend's own mirror
// of the Mirrored buckets (etcdstore) is the one exception: a write
// transaction's first attempt may read from it, and its commit checks what
// it read there as it checks any read. OnEnd still runs once the
// transaction is durable (or was abandoned), but concurrently with other
// transactions of this node and without any order against other nodes.
type Shared interface {
	Backend
	// Watch calls fn with the key of every change (put or delete) made to
	// bucket b by any node, this one included, from the moment Watch
	// returns until ctx ends. Calls for one bucket come in commit order, one
	// at a time. After a lost connection the backend reports the changes
	// made meanwhile, late; when it can no longer tell them (etcd compacted
	// them away), it calls fn with a nil key, meaning "anything in b may
	// have changed": drop the whole cache.
	Watch(ctx context.Context, b Bucket, fn func(key []byte)) error
}

// Follow calls fn, through store's Watch, with the key of every change any
// node makes to bucket b from now until ctx ends (nil: anything may have
// changed). It reports false, having done nothing, for a store only this
// node writes: a cache over it is kept in step by the node's own changes.
// Callers that turn a cache on run their "off again" with
// context.AfterFunc(ctx, ...).
func Follow(ctx context.Context, store Backend, b Bucket, fn func(key []byte)) (bool, error) {
	sh, ok := store.(Shared)
	if !ok {
		return false, nil
	}
	if err := sh.Watch(ctx, b, fn); err != nil {
		return true, fmt.Errorf("follow %s: %w", b, err)
	}
	return true, nil
}

// IsShared reports whether b is written by other nodes too.
func IsShared(b Backend) bool {
	_, ok := b.(Shared)
	return ok
}

// Key names one key of one bucket, for a Prefetch. New and Follows say
// what the caller knows of the key's existence: a backend that mirrors
// buckets (etcd) may trust them in a write transaction's first attempt,
// because its commit checks every key the attempt read.
type Key struct {
	Bucket Bucket
	Key    []byte
	// New: the key is most likely absent (an idempotency key on its first
	// use).
	New bool
	// Follows names a bucket whose same key is always written before this
	// one: a serial's trail follows its issuance record.
	Follows Bucket
}

// Mirrored lists the buckets a shared backend may keep a copy of for write
// transactions: what a redemption reads first.
var Mirrored = []Bucket{Credentials, Trails}

// Prefetcher is a Tx that can read several keys in one request to its
// backend (etcd: one round trip instead of one per key).
type Prefetcher interface {
	// Prefetch reads keys now, at the transaction's snapshot, so that the
	// Gets that follow are answered from memory. A key fetched but never
	// got counts as not read: it adds nothing that a commit must check.
	// A failure is kept for the next Get to report.
	Prefetch(keys ...Key)
}

// Prefetch hints that tx will read keys soon. Where every Get is cheap
// (bbolt, a local file) it does nothing.
func Prefetch(tx Tx, keys ...Key) {
	if p, ok := tx.(Prefetcher); ok && len(keys) > 0 {
		p.Prefetch(keys...)
	}
}

// ValueWatcher is a Shared backend whose watch hands over what was written
// as well (etcd sends it anyway), so that a follower need not read again
// what its watch delivered.
type ValueWatcher interface {
	// WatchValues is Watch with the value of each change: the new value
	// of a put, nil for a delete. After a lost connection fn gets a nil
	// key: anything in b may have changed.
	WatchValues(ctx context.Context, b Bucket, fn func(key, value []byte)) error
}
