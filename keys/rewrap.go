package keys

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/storage"
)

// Resealer re-encrypts one sealed value, bound to the same associated data,
// from the old master key to the new one.
type Resealer func(sealed, ad []byte) ([]byte, error)

// CodeResealer re-encrypts the sealed codes of the ledger inside tx with
// reseal and reports how many it changed; credential.ResealCodes is one.
type CodeResealer func(tx storage.Tx, reseal func(serial, sealed []byte) ([]byte, error)) (int, error)

// Rewrapped counts what Rewrap re-encrypted.
type Rewrapped struct {
	Keysets int `json:"keysets"`
	Secrets int `json:"secrets"`
	Codes   int `json:"codes"`
}

// ErrSameMasterKey is returned when the new master key is the old one.
var ErrSameMasterKey = errors.New("the new master key opens what the old one sealed: it is the same key")

// Rewrap re-encrypts every keyset, every server secret and, through codes,
// every sealed code of store from old to next, in one write transaction:
// either all of it is under next afterwards, or nothing changed. Each value
// is opened with old first, so a wrong old key changes nothing. The rewrap
// is recorded in the audit trail under audit.Global, by by.
//
// Backups taken before the rewrap stay sealed under the old key: keep the
// old key as long as those backups.
func Rewrap(store storage.Backend, old, next tink.AEAD, codes CodeResealer, by audit.Actor) (Rewrapped, error) {
	var n Rewrapped
	err := store.Update(func(tx storage.Tx) error {
		n = Rewrapped{}
		if err := rewrapKeysets(tx, old, next, &n); err != nil {
			return err
		}
		if err := rewrapSecrets(tx, old, next, &n); err != nil {
			return err
		}
		if codes != nil {
			c, err := codes(tx, func(serial, sealed []byte) ([]byte, error) {
				return reseal(old, next, sealed, codeAssociatedData(serial))
			})
			if err != nil {
				return fmt.Errorf("rewrap codes: %w", err)
			}
			n.Codes = c
		}
		return audit.Record(tx, time.Now(), audit.Global, audit.KeysRewrapped, by, "master key", map[string]string{
			"keysets": fmt.Sprint(n.Keysets), "secrets": fmt.Sprint(n.Secrets), "codes": fmt.Sprint(n.Codes)})
	})
	return n, err
}

// reseal opens sealed under old and seals it under next, and checks that
// next is not old (a rewrap to the same key would leave the old key
// opening everything).
func reseal(old, next tink.AEAD, sealed, ad []byte) ([]byte, error) {
	plain, err := old.Decrypt(sealed, ad)
	if err != nil {
		return nil, fmt.Errorf("open under the old master key (wrong key?): %w", err)
	}
	if _, err := next.Decrypt(sealed, ad); err == nil {
		return nil, ErrSameMasterKey
	}
	return next.Encrypt(plain, ad)
}

func rewrapKeysets(tx storage.Tx, old, next tink.AEAD, n *Rewrapped) error {
	type item struct {
		merchant string
		rec      stored
	}
	var todo []item
	err := tx.Scan(storage.Keysets, nil, func(k, v []byte) error {
		var rec stored
		if err := storage.GetJSON(tx, storage.Keysets, k, &rec); err != nil {
			return err
		}
		todo = append(todo, item{string(k), rec})
		return nil
	})
	if err != nil {
		return err
	}
	for _, it := range todo {
		ad := associatedData(it.merchant)
		h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(it.rec.Keyset)), old, ad)
		if err != nil {
			return fmt.Errorf("open keyset of %s under the old master key (wrong key?): %w", it.merchant, err)
		}
		if _, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(it.rec.Keyset)), next, ad); err == nil {
			return ErrSameMasterKey
		}
		var buf bytes.Buffer
		if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), next, ad); err != nil {
			return fmt.Errorf("seal keyset of %s: %w", it.merchant, err)
		}
		it.rec.Keyset = buf.Bytes()
		if err := storage.PutJSON(tx, storage.Keysets, []byte(it.merchant), it.rec); err != nil {
			return err
		}
		n.Keysets++
	}
	return nil
}

const secretPrefix = "secret:"

func rewrapSecrets(tx storage.Tx, old, next tink.AEAD, n *Rewrapped) error {
	sealed := map[string][]byte{}
	err := tx.Scan(storage.Meta, []byte(secretPrefix), func(k, v []byte) error {
		sealed[string(k)] = append([]byte(nil), v...)
		return nil
	})
	if err != nil {
		return err
	}
	names := make([]string, 0, len(sealed))
	for k := range sealed {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		ad := []byte("stampseal " + k) // "stampseal secret:<name>", as Secret seals it
		out, err := reseal(old, next, sealed[k], ad)
		if err != nil {
			return fmt.Errorf("secret %s: %w", strings.TrimPrefix(k, secretPrefix), err)
		}
		if err := tx.Put(storage.Meta, []byte(k), out); err != nil {
			return err
		}
		n.Secrets++
	}
	return nil
}
