package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"time"

	"encoding/hex"
	"fmt"

	"github.com/stampseal/stampseal/storage"
)

// MaxIdempotencyKey bounds the length of a client's idempotency key.
const MaxIdempotencyKey = 128

// IdempotencyTTL is how long the first answer to an idempotency key is
// kept for retries (as payment APIs keep theirs for a day).
const IdempotencyTTL = 24 * time.Hour

// remembered is the first answer given for an idempotency key.
type remembered struct {
	At          time.Time    `json:"at"`
	Fingerprint string       `json:"fingerprint"`
	Redemption  *Redemption  `json:"redemption,omitempty"`
	Stamp       *StampResult `json:"stamp,omitempty"`
}

func idempotencyKey(merchant, key string) []byte { return []byte(merchant + "\x00" + key) }

// fingerprint identifies a request, so that one key cannot be reused for
// another request (as payment APIs refuse it).
func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// recall returns the answer remembered under key, nil if none, or
// ErrIdempotencyReused if the key was used for a different request.
func recall(tx storage.Tx, merchant, key, fp string) (*remembered, error) {
	if key == "" {
		return nil, nil
	}
	var r remembered
	if err := storage.GetJSON(tx, storage.Idempotency, idempotencyKey(merchant, key), &r); err != nil {
		if err == storage.ErrNotFound {
			return nil, nil
		}
		return nil, err
	}
	if r.Fingerprint != fp {
		return nil, ErrIdempotencyReused
	}
	return &r, nil
}

func remember(tx storage.Tx, merchant, key string, r remembered) error {
	if key == "" {
		return nil
	}
	return storage.PutJSON(tx, storage.Idempotency, idempotencyKey(merchant, key), r)
}

// ForgetIdempotency deletes remembered answers older than IdempotencyTTL,
// at most limit of them, and reports how many it deleted; run it
// periodically so that the store does not grow with every request.
func (v *Verifier) ForgetIdempotency(limit int) (int, error) {
	cut := v.now().Add(-IdempotencyTTL)
	var old [][]byte
	err := v.store.View(func(tx storage.Tx) error {
		return tx.Scan(storage.Idempotency, nil, func(k, val []byte) error {
			var r remembered
			if json.Unmarshal(val, &r) == nil && r.At.Before(cut) {
				old = append(old, bytes.Clone(k))
			}
			if len(old) >= limit {
				return errStopScan
			}
			return nil
		})
	})
	if err != nil && err != errStopScan {
		return 0, err
	}
	if len(old) == 0 {
		return 0, nil
	}
	return len(old), v.store.Update(func(tx storage.Tx) error {
		for _, k := range old {
			if err := tx.Delete(storage.Idempotency, k); err != nil {
				return err
			}
		}
		return nil
	})
}

var errStopScan = errors.New("stop scan")
