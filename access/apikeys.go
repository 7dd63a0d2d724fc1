package access

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/storage"
)

// LastUsedEvery is how often a key's last_used_at is written at most: a
// register authenticates on every scan, and a write per request would put
// a disk sync on every one.
const LastUsedEvery = time.Minute

// MaxReason bounds a revocation's reason.
const MaxReason = 500

// KeyInfo is what may be shown of an API key: never its token or hash.
type KeyInfo struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Role         Role       `json:"role"`
	Merchant     string     `json:"merchant"`
	CreatedAt    time.Time  `json:"created_at"`
	LastUsedAt   *time.Time `json:"last_used_at"`
	ExpiresAt    *time.Time `json:"expires_at"`
	RevokedAt    *time.Time `json:"revoked_at"`
	RevokeReason string     `json:"revoke_reason,omitempty"`
}

// Info is what may be shown of k.
func (k Key) Info() KeyInfo {
	return KeyInfo{ID: k.ID, Name: k.Name, Role: k.Role, Merchant: k.Merchant, CreatedAt: k.CreatedAt,
		LastUsedAt: k.LastUsedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, RevokeReason: k.RevokeReason}
}

// usable reports whether k authenticates at now.
func (k Key) usable(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// Keys lists the API keys scoped to merchant (AllMerchants: the
// all-merchants keys), oldest first.
func (s *Service) Keys(merchant string) ([]KeyInfo, error) {
	out := []KeyInfo{}
	err := s.store.View(func(tx storage.Tx) error {
		return scanKeys(tx, func(k Key) error {
			if k.Merchant == merchant {
				out = append(out, k.Info())
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, err
}

// scanKeys calls fn for every stored key. Keys are few (one per till,
// issuer and auditor), so a scan is cheaper than an index to keep.
func scanKeys(tx storage.Tx, fn func(Key) error) error {
	return tx.Scan(storage.APIKeys, nil, func(_, v []byte) error {
		var k Key
		if err := json.Unmarshal(v, &k); err != nil {
			return fmt.Errorf("decode API key: %w", err)
		}
		return fn(k)
	})
}

var errFound = errors.New("found")

func findKey(tx storage.Tx, id string) (Key, error) {
	var found Key
	err := scanKeys(tx, func(k Key) error {
		if k.ID == id {
			found = k
			return errFound
		}
		return nil
	})
	switch {
	case errors.Is(err, errFound):
		return found, nil
	case err != nil:
		return Key{}, err
	}
	return Key{}, ErrUnknownKey
}

// Key returns the key with id, or ErrUnknownKey.
func (s *Service) Key(id string) (KeyInfo, error) {
	var k Key
	err := s.store.View(func(tx storage.Tx) (err error) { k, err = findKey(tx, id); return err })
	return k.Info(), err
}

// Check reports whether the key with id still authenticates: nil,
// ErrKeyRevoked, ErrKeyExpired or ErrUnauthenticated (it is gone). The
// review page asks it on every request of a signed-in session.
func (s *Service) Check(id string) error {
	var k Key
	err := s.store.View(func(tx storage.Tx) (err error) { k, err = findKey(tx, id); return err })
	switch {
	case errors.Is(err, ErrUnknownKey):
		return ErrUnauthenticated
	case err != nil:
		return err
	case k.RevokedAt != nil:
		return ErrKeyRevoked
	case !k.usable(s.now()):
		return ErrKeyExpired
	}
	return nil
}

// Revoke ends the key with id from the next request on, for reason, by by;
// the revocation and its audit entry commit together. Revoking a revoked
// key changes nothing and answers it again. The last usable all-merchants
// admin key cannot be revoked (ErrLastAdmin): nobody could create
// merchants or keys any more.
func (s *Service) Revoke(by audit.Actor, id, reason string) (KeyInfo, error) {
	if len(reason) > MaxReason || !utf8.ValidString(reason) {
		return KeyInfo{}, fmt.Errorf("%w: reason must be valid UTF-8 of at most %d bytes", ErrInvalid, MaxReason)
	}
	now := s.now().UTC()
	var out Key
	err := s.store.Update(func(tx storage.Tx) error {
		k, err := findKey(tx, id)
		if err != nil {
			return err
		}
		out = k
		if k.RevokedAt != nil {
			return nil
		}
		if k.Merchant == AllMerchants && k.Role == Admin && k.usable(now) {
			others := 0
			if err := scanKeys(tx, func(o Key) error {
				if o.ID != k.ID && o.Merchant == AllMerchants && o.Role == Admin && o.usable(now) {
					others++
				}
				return nil
			}); err != nil {
				return err
			}
			if others == 0 {
				return ErrLastAdmin
			}
		}
		k.RevokedAt, k.RevokeReason, k.RevokedBy = &now, reason, by.KeyID
		if err := storage.PutJSON(tx, storage.APIKeys, k.Hash, k); err != nil {
			return err
		}
		out = k
		return audit.Record(tx, now, k.Merchant, audit.APIKeyRevoked, by, k.ID,
			map[string]string{"name": k.Name, "role": string(k.Role), "reason": reason})
	})
	// Committed or not, the next request reads the key from the ledger.
	s.Forget(id)
	if err != nil {
		return KeyInfo{}, err
	}
	return out.Info(), nil
}

// touch writes k's last_used_at when it was last written more than
// LastUsedEvery ago. A failed write is not the caller's failure: the
// request it authenticates goes on.
func (s *Service) touch(k Key, now time.Time) {
	if k.LastUsedAt != nil && now.Sub(*k.LastUsedAt) < LastUsedEvery {
		return
	}
	s.mu.Lock()
	if last, ok := s.touched[k.ID]; ok && now.Sub(last) < LastUsedEvery {
		s.mu.Unlock()
		return
	}
	s.touched[k.ID] = now
	s.mu.Unlock()
	at := now.UTC()
	s.store.Update(func(tx storage.Tx) error {
		var cur Key
		if err := storage.GetJSON(tx, storage.APIKeys, k.Hash, &cur); err != nil {
			return nil // gone meanwhile
		}
		cur.LastUsedAt = &at
		return storage.PutJSON(tx, storage.APIKeys, cur.Hash, cur)
	})
}
