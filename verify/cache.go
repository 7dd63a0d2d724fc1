package verify

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/storage"
)

// On a shared backend every read inside a decision is a request to etcd.
// The blocklist is read by every use and changes rarely, so a following
// node keeps all of it in memory, kept in step by a watch: a block made on
// another node applies here as soon as the watch reports it.
//
// Issuance records are not cached: a decision reads a serial's issuance
// record in the same request as the serial's own record (prefetch,
// records.go), which it must read anyway, so a cached copy would save no
// round trip. On bbolt, or before Follow, nothing is cached.

type ledgerCache struct {
	mu      sync.RWMutex
	on      bool
	blocked map[string]bool // the whole blocklist while on
	loading bool            // the blocklist is being read: changes wait in pending
	pending [][]byte
}

// Follow keeps this node's cached blocklist in step with a shared backend
// through its watch, and turns the cache on, until ctx ends. On any other
// backend it does nothing.
func (v *Verifier) Follow(ctx context.Context) error {
	c := &v.cache
	shared, err := storage.Follow(ctx, v.store, storage.Blocklist, func(k []byte) {
		c.mu.Lock()
		if c.loading {
			c.pending = append(c.pending, bytes.Clone(k))
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if err := v.reloadBlock(k); err != nil {
			c.mu.Lock()
			c.on = false // cannot tell what is blocked: read it in every transaction
			c.mu.Unlock()
		}
	})
	if !shared || err != nil {
		return err
	}
	c.mu.Lock()
	c.loading = true
	c.mu.Unlock()
	if err := v.reloadBlock(nil); err != nil {
		return err
	}
	context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.on = false
		c.mu.Unlock()
	})
	return nil
}

// reloadBlock reads one blocklist entry again, or the whole list for a
// nil key (which then takes the changes that waited meanwhile, and turns
// the cache on).
func (v *Verifier) reloadBlock(k []byte) error {
	c := &v.cache
	if k != nil {
		var blocked bool
		err := v.store.View(func(tx storage.Tx) error { blocked = tx.Get(storage.Blocklist, k) != nil; return nil })
		if err != nil {
			return err
		}
		c.mu.Lock()
		if blocked {
			c.blocked[string(k)] = true
		} else {
			delete(c.blocked, string(k))
		}
		c.mu.Unlock()
		return nil
	}
	c.mu.Lock()
	c.loading, c.on = true, false
	c.mu.Unlock()
	all := map[string]bool{}
	err := v.store.View(func(tx storage.Tx) error {
		return tx.Scan(storage.Blocklist, nil, func(k, _ []byte) error { all[string(k)] = true; return nil })
	})
	if err != nil {
		return fmt.Errorf("read the blocklist: %w", err)
	}
	for {
		c.mu.Lock()
		pending := c.pending
		c.pending = nil
		if len(pending) == 0 {
			c.blocked, c.loading, c.on = all, false, true
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock()
		for _, k := range pending {
			if k == nil {
				return v.reloadBlock(nil)
			}
			var blocked bool
			if err := v.store.View(func(tx storage.Tx) error { blocked = tx.Get(storage.Blocklist, k) != nil; return nil }); err != nil {
				return err
			}
			if blocked {
				all[string(k)] = true
			} else {
				delete(all, string(k))
			}
		}
	}
}

// record is the issuance record of s as tx reads it.
func (v *Verifier) record(tx storage.Tx, s credential.Serial) (credential.Record, error) {
	return credential.Load(tx, s[:])
}

// isBlocked says whether the serial (hex) is blocked: from the cached
// blocklist while it follows the backend, else as tx reads it.
func (v *Verifier) isBlocked(tx storage.Tx, serial string) bool {
	c := &v.cache
	c.mu.RLock()
	on, blocked := c.on, c.blocked[strings.ToLower(serial)]
	c.mu.RUnlock()
	if on {
		return blocked
	}
	return fraud.IsBlocked(tx, serial)
}
