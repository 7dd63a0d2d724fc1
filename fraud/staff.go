package fraud

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stampseal/stampseal/storage"
)

// StaffCard records that a card belongs to a member of staff: every stamp
// or claim onto it raises insider, since staff collecting stamps at their
// own tills is how a cashier's favours begin.
type StaffCard struct {
	Merchant string    `json:"merchant"`
	Serial   string    `json:"serial"`
	Note     string    `json:"note"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
}

func staffKey(merchant, serial string) []byte { return []byte("staff/" + merchant + "/" + serial) }

// MarkStaff marks the merchant's card serial (32 hex digits) as a staff
// card. Marking again replaces the note.
func (m *Monitor) MarkStaff(merchant, serial, note, by string) (StaffCard, error) {
	serial = strings.ToLower(serial)
	if _, err := hex.DecodeString(serial); err != nil || len(serial) != serialHexLen {
		return StaffCard{}, fmt.Errorf("%w: serial must be %d hex digits", ErrInvalid, serialHexLen)
	}
	if len(note) > MaxNoteLen || !utf8.ValidString(note) || len(by) > maxByLen {
		return StaffCard{}, fmt.Errorf("%w: note must be valid UTF-8 of at most %d bytes", ErrInvalid, MaxNoteLen)
	}
	sc := StaffCard{Merchant: merchant, Serial: serial, Note: note, By: by, At: m.now().UTC()}
	if err := m.store.Update(func(tx storage.Tx) error {
		return storage.PutJSON(tx, storage.Places, staffKey(merchant, serial), sc)
	}); err != nil {
		return StaffCard{}, fmt.Errorf("mark staff card %s: %w", serial, err)
	}
	m.placesMu.Lock()
	m.staff[merchant+"/"+serial] = true
	m.placesMu.Unlock()
	return sc, nil
}

// isStaff reports whether the merchant's card is a staff card.
func (m *Monitor) isStaff(merchant, serial string) bool {
	m.placesMu.RLock()
	defer m.placesMu.RUnlock()
	return m.staff[merchant+"/"+serial]
}
