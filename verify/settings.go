package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/storage"
)

// DefaultVoidWindow is how long after a sale its redemption or stamp may be
// voided, unless the merchant sets another window.
const DefaultVoidWindow = 24 * time.Hour

// MaxVoidWindow bounds a merchant's void window.
const MaxVoidWindow = 90 * 24 * time.Hour

// Settings are a merchant's rules for the register's day.
type Settings struct {
	// VoidWindow: how long after a sale it may be voided. Zero forbids
	// voids altogether.
	VoidWindow time.Duration
}

// settingsRecord is Settings as stored and as the API shows them.
type settingsRecord struct {
	VoidWindow string `json:"void_window"`
}

// MarshalJSON writes durations as Go duration strings ("24h0m0s").
func (s Settings) MarshalJSON() ([]byte, error) {
	return json.Marshal(settingsRecord{VoidWindow: s.VoidWindow.String()})
}

// UnmarshalJSON reads durations as Go duration strings.
func (s *Settings) UnmarshalJSON(raw []byte) error {
	var r settingsRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return err
	}
	d, err := time.ParseDuration(r.VoidWindow)
	if err != nil {
		return fmt.Errorf("void_window: %w", err)
	}
	s.VoidWindow = d
	return nil
}

// Validate names the first setting out of bounds.
func (s Settings) Validate() error {
	if s.VoidWindow < 0 || s.VoidWindow > MaxVoidWindow {
		return fmt.Errorf("%w: void_window must be 0s to %v", ErrInvalidRequest, MaxVoidWindow)
	}
	return nil
}

func loadSettings(tx storage.Tx, merchant string) (Settings, error) {
	s := Settings{VoidWindow: DefaultVoidWindow}
	err := storage.GetJSON(tx, storage.Settings, []byte(merchant), &s)
	if errors.Is(err, storage.ErrNotFound) {
		return s, nil
	}
	return s, err
}

func voidWindow(tx storage.Tx, merchant string) (time.Duration, error) {
	s, err := loadSettings(tx, merchant)
	return s.VoidWindow, err
}

// Settings returns a merchant's settings, defaults where none were set.
func (v *Verifier) Settings(merchant string) (Settings, error) {
	var s Settings
	err := v.store.View(func(tx storage.Tx) error {
		var err error
		s, err = loadSettings(tx, merchant)
		return err
	})
	return s, err
}

// SetSettings replaces a merchant's settings, recording the change in the
// audit trail in the same transaction. A new void window applies to every
// later void, also of earlier sales.
func (v *Verifier) SetSettings(by audit.Actor, merchant string, s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return v.store.Update(func(tx storage.Tx) error {
		old, err := loadSettings(tx, merchant)
		if err != nil {
			return err
		}
		if err := storage.PutJSON(tx, storage.Settings, []byte(merchant), s); err != nil {
			return err
		}
		return audit.Record(tx, v.now(), merchant, AuditSettingsChanged, by, merchant,
			map[string]string{"void_window": s.VoidWindow.String(), "void_window_before": old.VoidWindow.String()})
	})
}
