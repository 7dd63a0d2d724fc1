package fraud

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/storage"
)

// Location is where a shop is, in degrees (WGS 84).
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Shop is a place where a merchant's registers stand. A register key given
// a shop makes every use of a card through it happen there, so that a card
// at two shops faster than a person travels is seen as copied.
type Shop struct {
	Merchant  string    `json:"merchant"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Location  Location  `json:"location"`
	CreatedAt time.Time `json:"created_at"`
}

// ErrShopExists is returned when a merchant already has a shop of that id.
var ErrShopExists = errors.New("fraud: shop already exists")

// keyPlace is what storage.Places holds for an API key.
type keyPlace struct {
	Merchant string `json:"merchant"`
	Shop     string `json:"shop"`
}

func shopKey(merchant, id string) []byte { return []byte("shop/" + merchant + "/" + id) }
func keyPlaceKey(keyID string) []byte    { return []byte("key/" + keyID) }

// place is a shop as the detectors use it.
type place struct {
	id       string
	lat, lon float64
}

// CreateShop records a merchant's shop.
func (m *Monitor) CreateShop(s Shop) (Shop, error) {
	switch err := credential.ValidID(s.ID); {
	case s.Merchant == "":
		return Shop{}, fmt.Errorf("%w: merchant is required", ErrInvalid)
	case err != nil:
		return Shop{}, fmt.Errorf("%w: shop %w", ErrInvalid, err)
	case s.Name == "" || len(s.Name) > 200 || !utf8.ValidString(s.Name):
		return Shop{}, fmt.Errorf("%w: name must be 1 to 200 characters", ErrInvalid)
	case math.IsNaN(s.Location.Lat) || s.Location.Lat < -90 || s.Location.Lat > 90:
		return Shop{}, fmt.Errorf("%w: location.lat must be -90 to 90", ErrInvalid)
	case math.IsNaN(s.Location.Lon) || s.Location.Lon < -180 || s.Location.Lon > 180:
		return Shop{}, fmt.Errorf("%w: location.lon must be -180 to 180", ErrInvalid)
	}
	s.CreatedAt = m.now().UTC()
	err := m.store.Update(func(tx storage.Tx) error {
		if tx.Get(storage.Places, shopKey(s.Merchant, s.ID)) != nil {
			return ErrShopExists
		}
		return storage.PutJSON(tx, storage.Places, shopKey(s.Merchant, s.ID), s)
	})
	if err != nil {
		if errors.Is(err, ErrShopExists) {
			return Shop{}, err
		}
		return Shop{}, fmt.Errorf("create shop %s: %w", s.ID, err)
	}
	m.placesMu.Lock()
	m.shops[s.Merchant+"/"+s.ID] = place{id: s.ID, lat: s.Location.Lat, lon: s.Location.Lon}
	m.placesMu.Unlock()
	return s, nil
}

// Shop returns a merchant's shop, or ErrNotFound.
func (m *Monitor) Shop(merchant, id string) (Shop, error) {
	var s Shop
	err := m.store.View(func(tx storage.Tx) error { return storage.GetJSON(tx, storage.Places, shopKey(merchant, id), &s) })
	if errors.Is(err, storage.ErrNotFound) {
		return Shop{}, ErrNotFound
	}
	return s, err
}

// AssignShop places the API key keyID of merchant at its shop: from now on
// its uses happen there. The shop must exist.
func (m *Monitor) AssignShop(merchant, keyID, shop string) error {
	err := m.store.Update(func(tx storage.Tx) error {
		if tx.Get(storage.Places, shopKey(merchant, shop)) == nil {
			return fmt.Errorf("%w: merchant %s has no shop %q", ErrInvalid, merchant, shop)
		}
		return storage.PutJSON(tx, storage.Places, keyPlaceKey(keyID), keyPlace{Merchant: merchant, Shop: shop})
	})
	if err != nil {
		return fmt.Errorf("assign key %s to shop: %w", keyID, err)
	}
	m.placesMu.Lock()
	m.keyShops[keyID] = keyPlace{Merchant: merchant, Shop: shop}
	m.placesMu.Unlock()
	return nil
}

// ShopOf returns the shop an API key stands at, or "".
func (m *Monitor) ShopOf(keyID string) string {
	m.placesMu.RLock()
	defer m.placesMu.RUnlock()
	return m.keyShops[keyID].Shop
}

// loadPlaces reads every shop and key placement into memory.
func (m *Monitor) loadPlaces() error {
	return m.store.View(func(tx storage.Tx) error {
		return tx.Scan(storage.Places, nil, func(k, v []byte) error {
			switch key := string(k); {
			case strings.HasPrefix(key, "shop/"):
				var s Shop
				if err := storage.GetJSON(tx, storage.Places, k, &s); err != nil {
					return err
				}
				m.shops[s.Merchant+"/"+s.ID] = place{id: s.ID, lat: s.Location.Lat, lon: s.Location.Lon}
			case strings.HasPrefix(key, "staff/"):
				m.staff[strings.TrimPrefix(key, "staff/")] = true
			case strings.HasPrefix(key, "key/"):
				var p keyPlace
				if err := storage.GetJSON(tx, storage.Places, k, &p); err != nil {
					return err
				}
				m.keyShops[strings.TrimPrefix(key, "key/")] = p
			}
			return nil
		})
	})
}

// placeOf is the shop of an API key of merchant, if it has one.
func (m *Monitor) placeOf(merchant, keyID string) (place, bool) {
	if keyID == "" {
		return place{}, false
	}
	m.placesMu.RLock()
	defer m.placesMu.RUnlock()
	kp, ok := m.keyShops[keyID]
	if !ok || kp.Merchant != merchant {
		return place{}, false
	}
	p, ok := m.shops[merchant+"/"+kp.Shop]
	return p, ok
}

// travelTime is the least time one person needs between two shops: the
// great-circle distance at TravelSpeed, plus TravelSlack for the way in and
// out of a shop. Two shops at one spot still take the slack.
func (m *Monitor) travelTime(merchant, a, b string) time.Duration {
	m.placesMu.RLock()
	pa, oka := m.shops[merchant+"/"+a]
	pb, okb := m.shops[merchant+"/"+b]
	m.placesMu.RUnlock()
	if !oka || !okb {
		return m.cfg.TravelSlack
	}
	km := haversineKm(pa.lat, pa.lon, pb.lat, pb.lon)
	return m.cfg.TravelSlack + time.Duration(km/m.cfg.TravelSpeed*float64(time.Hour))
}

// haversineKm is the great-circle distance between two points on Earth.
func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	const earthKm = 6371.0
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthKm * math.Asin(math.Min(1, math.Sqrt(h)))
}
