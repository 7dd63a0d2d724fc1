package access

import "sync"

// keyCache holds the API keys that authenticated, by the SHA-256 of their
// token, so that a request finds its key without a read transaction and a
// JSON decode. Only keys that exist are cached (a guessed token adds
// nothing), so it is as large as the key table at most.
//
// Revocation takes effect at once: Revoke forgets the key after its commit,
// and a lookup that read the ledger before that commit does not put the old
// record back (gen tells it that something was forgotten meanwhile).
// Expiry is checked on every request against the clock, cached or not.
type keyCache struct {
	mu     sync.RWMutex
	byHash map[[32]byte]Key
	gen    uint64 // counts forgets
	off    bool
}

func (c *keyCache) get(h [32]byte) (Key, bool) {
	c.mu.RLock()
	k, ok := c.byHash[h]
	c.mu.RUnlock()
	return k, ok
}

// generation is read before a lookup in the ledger and given to put after.
func (c *keyCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// put caches k, read from the ledger after generation returned gen, unless
// a forget happened since.
func (c *keyCache) put(h [32]byte, k Key, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off || c.gen != gen {
		return
	}
	if c.byHash == nil {
		c.byHash = make(map[[32]byte]Key)
	}
	c.byHash[h] = k
}

// forget drops the entries that match and counts a forget.
func (c *keyCache) forget(match func(h [32]byte, k Key) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for h, k := range c.byHash {
		if match(h, k) {
			delete(c.byHash, h)
		}
	}
}

// Forget drops the key with id from the cache of authenticated keys: the
// next request with its token reads the ledger again. Revoke calls it; a
// node that learns of a change made by another node (a storage Watch on
// storage.APIKeys) calls it, or ForgetStored with the changed record's
// storage key.
func (s *Service) Forget(keyID string) {
	s.cache.forget(func(_ [32]byte, k Key) bool { return k.ID == keyID })
}

// ForgetStored drops the key stored under storageKey in storage.APIKeys
// (the SHA-256 of its token), as a storage Watch reports a change. A nil
// key drops every key, as Watch's "anything may have changed" does.
func (s *Service) ForgetStored(storageKey []byte) {
	if storageKey == nil {
		s.ForgetAll()
		return
	}
	s.cache.forget(func(h [32]byte, _ Key) bool { return string(h[:]) == string(storageKey) })
}

// ForgetAll empties the cache of authenticated keys.
func (s *Service) ForgetAll() {
	s.cache.forget(func([32]byte, Key) bool { return true })
}
