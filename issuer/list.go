package issuer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/storage"
)

// MaxPage bounds how many entries one page of a list holds.
const MaxPage = 500

// errPageFull ends a scan once a page is full.
var errPageFull = errors.New("page full")

// Programs lists the merchant's programs in id order, at most limit of
// them after the program id after ("" for the first page). next is the
// cursor of the following page, "" on the last one.
func (i *Issuer) Programs(merchant, after string, limit int) (list []credential.Program, next string, err error) {
	if err := credential.ValidID(merchant); err != nil {
		return nil, "", fmt.Errorf("%w: merchant: %w", ErrInvalid, err)
	}
	if limit <= 0 || limit > MaxPage {
		return nil, "", fmt.Errorf("%w: limit must be 1 to %d", ErrInvalid, MaxPage)
	}
	prefix := credential.ProgramKey(merchant, "")
	var start []byte
	if after != "" {
		start = credential.ProgramKey(merchant, after)
	}
	list = []credential.Program{}
	err = i.store.View(func(tx storage.Tx) error {
		return tx.Scan(storage.Programs, prefix, func(k, v []byte) error {
			if start != nil && bytes.Compare(k, start) <= 0 {
				return nil
			}
			if len(list) == limit {
				next = list[len(list)-1].ID
				return errPageFull
			}
			var p credential.Program
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("decode program %s: %w", k, err)
			}
			list = append(list, p)
			return nil
		})
	})
	if errors.Is(err, errPageFull) {
		err = nil
	}
	return list, next, err
}
