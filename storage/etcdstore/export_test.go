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
