package access

import (
	"encoding/json"
	"fmt"

	"github.com/stampseal/stampseal/storage"
)

// Merchants lists every merchant in id order, for the all-merchants
// admin's choice on the owner's pages.
func (s *Service) Merchants() ([]Merchant, error) {
	out := []Merchant{}
	err := s.store.View(func(tx storage.Tx) error {
		return tx.Scan(storage.Merchants, nil, func(k, v []byte) error {
			var m Merchant
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("merchant %s: %w", k, err)
			}
			out = append(out, m)
			return nil
		})
	})
	return out, err
}
