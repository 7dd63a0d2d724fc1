package keys

import (
	"crypto/rand"
	"fmt"

	"github.com/stampseal/stampseal/storage"
)

// Secret returns the named server secret (32 bytes), creating it on first
// use. Like keysets, it is stored only encrypted under the master key, so a
// backup restored with the same master key keeps it.
func (r *Ring) Secret(name string) ([]byte, error) {
	key := []byte("secret:" + name)
	ad := []byte("stampseal secret:" + name)
	var sealed []byte
	err := r.store.Update(func(tx storage.Tx) error {
		if v := tx.Get(storage.Meta, key); v != nil {
			sealed = append([]byte(nil), v...)
			return nil
		}
		fresh := make([]byte, 32)
		if _, err := rand.Read(fresh); err != nil {
			return err
		}
		var err error
		if sealed, err = r.master.Encrypt(fresh, ad); err != nil {
			return err
		}
		return tx.Put(storage.Meta, key, sealed)
	})
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	plain, err := r.master.Decrypt(sealed, ad)
	if err != nil {
		return nil, fmt.Errorf("decrypt secret %s (wrong master key?): %w", name, err)
	}
	return plain, nil
}
