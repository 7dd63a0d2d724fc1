package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/stampseal/stampseal/storage"
)

// MaxIdempotencyKey bounds the length of a client's idempotency key.
const MaxIdempotencyKey = 128

// remembered is the first answer given for an idempotency key.
type remembered struct {
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
