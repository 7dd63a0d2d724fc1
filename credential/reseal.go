package credential

import (
	"fmt"

	"github.com/stampseal/stampseal/storage"
)

// ResealCodes re-encrypts, inside tx, the sealed code of every record with
// reseal (the master-key rewrap, keys.Rewrap) and reports how many it
// changed. Records without a sealed code are left as they are.
func ResealCodes(tx storage.Tx, reseal func(serial, sealed []byte) ([]byte, error)) (int, error) {
	type item struct {
		serial []byte
		rec    Record
	}
	var todo []item
	err := tx.Scan(storage.Credentials, nil, func(k, v []byte) error {
		var r Record
		if err := recordDec.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode credential record: %w", err)
		}
		if len(r.SealedCode) > 0 {
			todo = append(todo, item{append([]byte(nil), k...), r})
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, it := range todo {
		if it.rec.SealedCode, err = reseal(it.serial, it.rec.SealedCode); err != nil {
			return 0, fmt.Errorf("code of %x: %w", it.serial, err)
		}
		if err := Save(tx, it.serial, &it.rec); err != nil {
			return 0, err
		}
	}
	return len(todo), nil
}
