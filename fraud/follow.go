package fraud

import (
	"context"
	"errors"
	"strings"

	"github.com/stampseal/stampseal/storage"
)

// Follow keeps the monitor's shops, key placements and staff cards in step
// with the changes that other nodes of a shared backend (storage.Shared)
// make, through the backend's watch of storage.Places. On any other
// backend Follow does nothing: this monitor makes every change itself.
//
// The rest needs no following: the blocklist and alerts are read inside
// transactions, and a card's last use reaches the detectors with the event
// (Event.Previous).
func (m *Monitor) Follow(ctx context.Context) error {
	_, err := storage.Follow(ctx, m.store, storage.Places, func(key []byte) {
		if err := m.reloadPlace(key); err != nil {
			m.log.Error("fraud: reload a shop or key placement", "err", err)
		}
	})
	return err
}

// reloadPlace reads one entry of storage.Places again, or all of them for
// a nil key.
func (m *Monitor) reloadPlace(key []byte) error {
	if key == nil {
		fresh := &Monitor{store: m.store, shops: map[string]place{}, keyShops: map[string]keyPlace{}, staff: map[string]bool{}}
		if err := fresh.loadPlaces(); err != nil {
			return err
		}
		m.placesMu.Lock()
		m.shops, m.keyShops, m.staff = fresh.shops, fresh.keyShops, fresh.staff
		m.placesMu.Unlock()
		return nil
	}
	var (
		s    Shop
		p    keyPlace
		gone bool
	)
	k := string(key)
	err := m.store.View(func(tx storage.Tx) error {
		gone = tx.Get(storage.Places, key) == nil
		switch {
		case gone:
			return nil
		case strings.HasPrefix(k, "shop/"):
			return storage.GetJSON(tx, storage.Places, key, &s)
		case strings.HasPrefix(k, "key/"):
			return storage.GetJSON(tx, storage.Places, key, &p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	m.placesMu.Lock()
	defer m.placesMu.Unlock()
	switch {
	case strings.HasPrefix(k, "shop/"):
		name := strings.TrimPrefix(k, "shop/")
		if gone {
			delete(m.shops, name)
		} else {
			m.shops[name] = place{id: s.ID, lat: s.Location.Lat, lon: s.Location.Lon}
		}
	case strings.HasPrefix(k, "key/"):
		id := strings.TrimPrefix(k, "key/")
		if gone {
			delete(m.keyShops, id)
		} else {
			m.keyShops[id] = p
		}
	case strings.HasPrefix(k, "staff/"):
		if gone {
			delete(m.staff, strings.TrimPrefix(k, "staff/"))
		} else {
			m.staff[strings.TrimPrefix(k, "staff/")] = true
		}
	}
	return nil
}
