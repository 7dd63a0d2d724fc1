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
// Two things a redemption reads cannot go stale unnoticed once a watch
// reports their changes, so a following node keeps them in memory (the
// issue's "issuance records and the blocklist"):
//
//   - the issuance record of a coupon or punch: written once; the only later
//     change, a reward taken back by a void, is always read in the
//     transaction (rewards are never cached), and each use's transaction
//     reads the serial's own record (records.go) anyway;
//   - the blocklist: a block made on another node applies here as soon as
//     the watch reports it.
//
// A card's record changes with every stamp and is always read inside the
// transaction. On bbolt, or before Follow, nothing is cached.

// maxCachedRecords bounds the records kept; past it the cache starts over.
const maxCachedRecords = 200_000

type ledgerCache struct {
	mu      sync.RWMutex
	on      bool
	gen     uint64 // counts reported changes of records
	records map[credential.Serial]credential.Record
	blocked map[string]bool // the whole blocklist while on
	loading bool            // the blocklist is being read: changes wait in pending
	pending [][]byte
}

// Follow keeps this node's cached issuance records and blocklist in step
// with a shared backend through its watch, and turns the cache on, until
// ctx ends. On any other backend it does nothing.
func (v *Verifier) Follow(ctx context.Context) error {
	sh, ok := v.store.(storage.Shared)
	if !ok {
		return nil
	}
	c := &v.cache
	err := sh.Watch(ctx, storage.Credentials, func(k []byte) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.gen++
		if k == nil {
			clear(c.records)
			return
		}
		if len(k) == len(credential.Serial{}) {
			delete(c.records, credential.Serial(k))
		}
	})
	if err == nil {
		err = sh.Watch(ctx, storage.Blocklist, func(k []byte) {
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
	}
	if err != nil {
		return fmt.Errorf("follow issuance records and blocks: %w", err)
	}
	c.mu.Lock()
	c.loading = true
	c.mu.Unlock()
	if err := v.reloadBlock(nil); err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		c.mu.Lock()
		c.on = false
		clear(c.records)
		c.mu.Unlock()
	}()
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
			if c.records == nil {
				c.records = map[credential.Serial]credential.Record{}
			}
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

// warm puts the issuance record of a coupon or punch in the cache, read
// outside any decision: a change committed after this read is reported
// after gen was taken, so a stale record is never kept.
func (v *Verifier) warm(p *presented) {
	c := &v.cache
	if p == nil || p.code == nil || p.code.Claims.Kind == credential.KindCard {
		return
	}
	c.mu.RLock()
	on, gen := c.on, c.gen
	_, hit := c.records[p.serial]
	c.mu.RUnlock()
	if !on || hit {
		return
	}
	var rec credential.Record
	err := v.store.View(func(tx storage.Tx) error {
		var err error
		rec, err = credential.Load(tx, p.serial[:])
		return err
	})
	if err != nil || rec.RewardOf != "" || rec.Kind == credential.KindCard {
		return // unissued, a failure, a reward or a card (read in their transactions)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.on && c.gen == gen {
		if len(c.records) >= maxCachedRecords {
			clear(c.records)
		}
		c.records[p.serial] = rec
	}
}

// record is the issuance record of s: the cached one, or as tx reads it.
func (v *Verifier) record(tx storage.Tx, s credential.Serial) (credential.Record, error) {
	c := &v.cache
	c.mu.RLock()
	rec, hit := c.records[s]
	c.mu.RUnlock()
	if hit {
		return rec, nil
	}
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
