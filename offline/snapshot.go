package offline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
)

// KeySource gives the public side of a merchant's keys; keys.Ring is one.
type KeySource interface {
	PublicKeyset(merchant string) ([]byte, error)
	KeyStates(merchant string) (map[uint32]keys.State, uint32, error)
}

// Snapshot is what a till agent keeps to decide without the server: the
// merchant's public keys and their states, the blocklist, the offline
// policies and the limits of sync.
type Snapshot struct {
	Merchant string `json:"merchant"`
	// PublicKeyset is the merchant's public keyset (Tink JSON), with every
	// key, trusted or not: Keys says which.
	PublicKeyset json.RawMessage `json:"public_keyset"`
	Keys         []KeyState      `json:"keys"`
	PrimaryKeyID uint32          `json:"primary_key_id"`
	// CompromisedKeyIDs and RetiredKeyIDs repeat what Keys says, so that a
	// till can never miss a key it must refuse.
	CompromisedKeyIDs []uint32       `json:"compromised_key_ids"`
	RetiredKeyIDs     []uint32       `json:"retired_key_ids"`
	Blocked           []string       `json:"blocked"` // serials
	Policy            SnapshotPolicy `json:"policy"`
	Sync              SyncLimits     `json:"sync"`
	// GeneratedAt is when the server built the snapshot; it is not part of
	// the ETag.
	GeneratedAt time.Time `json:"generated_at"`
}

// KeyState is one key's id and state ("active", "compromised", "retired").
type KeyState struct {
	ID    uint32     `json:"id"`
	State keys.State `json:"state"`
}

// SnapshotPolicy is every offline policy of a merchant.
type SnapshotPolicy struct {
	MerchantPolicy
	Default  Policy            `json:"default"`
	Programs map[string]Policy `json:"programs"`
	Batches  []Batch           `json:"batches"`
}

// SyncLimits are the rules of POST /v1/sync.
type SyncLimits struct {
	MaxOperations int    `json:"max_operations"`
	ClockSkew     string `json:"clock_skew"`
}

// Snapshot builds the merchant's snapshot and its ETag, a hash of
// everything but GeneratedAt: equal ETags mean nothing changed.
func (s *Service) Snapshot(merchant string) (Snapshot, string, error) {
	snap := Snapshot{Merchant: merchant, Blocked: []string{}, CompromisedKeyIDs: []uint32{}, RetiredKeyIDs: []uint32{},
		Sync: SyncLimits{MaxOperations: s.maxOps, ClockSkew: s.skew.String()}}
	pub, err := s.keys.PublicKeyset(merchant)
	if err != nil {
		return snap, "", fmt.Errorf("public keyset of %s: %w", merchant, err)
	}
	snap.PublicKeyset = pub
	states, primary, err := s.keys.KeyStates(merchant)
	if err != nil {
		return snap, "", fmt.Errorf("key states of %s: %w", merchant, err)
	}
	snap.PrimaryKeyID = primary
	for id, st := range states {
		snap.Keys = append(snap.Keys, KeyState{ID: id, State: st})
		switch st {
		case keys.Compromised:
			snap.CompromisedKeyIDs = append(snap.CompromisedKeyIDs, id)
		case keys.Retired:
			snap.RetiredKeyIDs = append(snap.RetiredKeyIDs, id)
		}
	}
	slices.SortFunc(snap.Keys, func(a, b KeyState) int { return int(int64(a.ID) - int64(b.ID)) })
	slices.Sort(snap.CompromisedKeyIDs)
	slices.Sort(snap.RetiredKeyIDs)

	snap.Policy = SnapshotPolicy{Default: DefaultPolicy, Programs: map[string]Policy{}, Batches: []Batch{}}
	err = s.store.View(func(tx storage.Tx) error {
		var err error
		if snap.Policy.MerchantPolicy, err = readMerchant(tx, merchant); err != nil {
			return err
		}
		err = tx.Scan(storage.Offline, programPrefix(merchant), func(k, v []byte) error {
			var p Policy
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("program policy %s: %w", k, err)
			}
			snap.Policy.Programs[strings.TrimPrefix(string(k), string(programPrefix(merchant)))] = p
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Scan(storage.Offline, batchPrefix(merchant), func(k, v []byte) error {
			var b Batch
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("batch policy %s: %w", k, err)
			}
			snap.Policy.Batches = append(snap.Policy.Batches, b)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Scan(storage.Blocklist, nil, func(k, v []byte) error {
			var b fraud.BlockRecord
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("block record %s: %w", k, err)
			}
			if b.Merchant == merchant {
				snap.Blocked = append(snap.Blocked, string(k))
			}
			return nil
		})
	})
	if err != nil {
		return snap, "", err
	}
	raw, err := json.Marshal(snap)
	if err != nil {
		return snap, "", err
	}
	sum := sha256.Sum256(raw)
	snap.GeneratedAt = s.now().UTC()
	return snap, `"` + hex.EncodeToString(sum[:16]) + `"`, nil
}
