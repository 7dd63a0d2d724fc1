package keys

import (
	"context"

	"github.com/stampseal/stampseal/storage"
)

// Follow keeps the ring's cache of keysets in step with the changes that
// other nodes of a shared backend (storage.Shared) make: a rotation, a key
// marked compromised or retired on one node takes effect on this one as
// soon as the backend's watch reports it. Until Follow returns, a ring
// over a shared backend caches nothing and reads the keyset for every
// signature. On any other backend Follow does nothing: this ring makes
// every change itself.
func (r *Ring) Follow(ctx context.Context) error {
	shared, err := storage.Follow(ctx, r.store, storage.Keysets, func(key []byte) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.gen++
		if key == nil {
			clear(r.cache)
			return
		}
		delete(r.cache, string(key))
	})
	if !shared || err != nil {
		return err
	}
	r.mu.Lock()
	r.off = false
	r.mu.Unlock()
	context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.off = true
		clear(r.cache)
		r.mu.Unlock()
	})
	return nil
}

// keep caches mk, read from storage after gen was current, unless the
// cache is off or a change was reported meanwhile (mk may predate it).
func (r *Ring) keep(merchant string, mk *merchantKeys, gen uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.off || r.gen != gen {
		return
	}
	r.cache[merchant] = mk
}

// swap caches the keys this ring just committed. On a shared backend
// another node may commit a newer keyset before this one's watch event
// arrives, so there the entry is dropped instead and read again.
func (r *Ring) swap(merchant string, mk *merchantKeys) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if storage.IsShared(r.store) {
		r.gen++
		delete(r.cache, merchant)
		return
	}
	r.cache[merchant] = mk
}
