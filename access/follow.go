package access

import (
	"context"

	"github.com/stampseal/stampseal/storage"
)

// Follow keeps the cache of authenticated keys in step with the changes
// that other nodes of a shared backend (storage.Shared) make: a key revoked
// on another node is refused here as soon as the backend's watch reports
// it. It turns the cache on once the watch runs and off again when ctx
// ends. On any other backend Follow does nothing.
func (s *Service) Follow(ctx context.Context) error {
	if shared, err := storage.Follow(ctx, s.store, storage.APIKeys, s.ForgetStored); !shared || err != nil {
		return err
	}
	s.KeepKeysCached()
	context.AfterFunc(ctx, func() {
		s.cache.mu.Lock()
		s.cache.off = true
		s.cache.mu.Unlock()
		s.ForgetAll()
	})
	return nil
}
