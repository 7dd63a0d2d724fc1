package etcdstore

import (
	"math"

	"github.com/stampseal/stampseal/storage"
)

// MirrorHolds returns what s's mirror holds under b/key, if anything.
func MirrorHolds(s *Store, b storage.Bucket, key string) (value []byte, modRev int64, ok bool) {
	s.mirror.mu.RLock()
	defer s.mirror.mu.RUnlock()
	e, ok := s.mirror.keys[s.key(b, []byte(key))]
	return e.value, e.modRev, ok
}

// PlantInMirror sets s's mirror entry under b/key to an old copy, as a
// watch that has not caught up leaves it; no change the watch brings
// later replaces it.
func PlantInMirror(s *Store, b storage.Bucket, key string, value []byte, modRev int64) {
	s.mirror.mu.Lock()
	defer s.mirror.mu.Unlock()
	e := s.mirror.keys[s.key(b, []byte(key))]
	e.read, e.at = read{value: value, modRev: modRev}, math.MaxInt64
	s.mirror.keys[s.key(b, []byte(key))] = e
}

// HoldCommits makes s's write transactions queue as if all its Txns were
// in flight, until release, which sends what queued as a flight would on
// landing: merged where the keys allow.
func HoldCommits(s *Store) (release func()) {
	b := s.batch
	b.mu.Lock()
	held := b.inFlight - b.flying
	b.flying = b.inFlight
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		b.flying -= held - 1 // one flight, landing, sends the queue
		b.mu.Unlock()
		b.landed()
	}
}

// QueuedCommits is how many write transactions of s wait for a Txn.
func QueuedCommits(s *Store) int {
	s.batch.mu.Lock()
	defer s.batch.mu.Unlock()
	return len(s.batch.queue)
}
