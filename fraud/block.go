package fraud

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/storage"
)

// serialHexLen is the length of a serial in hex: credentials carry 128-bit
// serials.
const serialHexLen = 32

// BlockRecord is what storage.Blocklist holds for a blocked serial.
type BlockRecord struct {
	Merchant string    `json:"merchant"`
	Reason   string    `json:"reason"`
	By       string    `json:"by"`
	At       time.Time `json:"at"`
}

// Block puts the merchant's serial (32 hex digits) on the blocklist, so that
// every later verify says blocked. Blocking again replaces the reason. A
// serial that the ledger, or an earlier block, gives to another merchant is
// ErrNotFound; a serial that was never issued may be blocked.
func (m *Monitor) Block(merchant, serial, reason, by string) error {
	return m.BlockAs(audit.Actor{Name: by}, merchant, serial, reason)
}

// BlockAs is Block done by by; the block and its audit entry commit
// together.
func (m *Monitor) BlockAs(actor audit.Actor, merchant, serial, reason string) error {
	by := actor.Name
	if actor.KeyID != "" {
		by += " (" + actor.KeyID + ")"
	}
	serial = strings.ToLower(serial)
	raw, err := hex.DecodeString(serial)
	switch {
	case merchant == "":
		return fmt.Errorf("%w: no merchant", ErrInvalid)
	case err != nil || len(serial) != serialHexLen:
		return fmt.Errorf("%w: serial must be %d hex digits", ErrInvalid, serialHexLen)
	case reason == "" || len(reason) > MaxNoteLen || !utf8.ValidString(reason):
		return fmt.Errorf("%w: reason must be valid UTF-8 of 1 to %d bytes", ErrInvalid, MaxNoteLen)
	case len(by) > maxByLen || !utf8.ValidString(by):
		return fmt.Errorf("%w: blocker must be valid UTF-8 of at most %d bytes", ErrInvalid, maxByLen)
	}
	rec := BlockRecord{Merchant: merchant, Reason: reason, By: by, At: m.now().UTC()}
	var refused error
	err = m.store.Update(func(tx storage.Tx) error {
		refused = nil
		if prev, ok := ReadBlock(tx, serial); ok && prev.Merchant != merchant {
			refused = ErrNotFound
			return nil
		}
		// A serial of another merchant is not found, as one never issued
		// is not: blocking it ahead of its use is allowed.
		owner, err := credential.Load(tx, raw)
		switch {
		case err == nil && owner.Merchant != merchant:
			refused = ErrNotFound
			return nil
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return fmt.Errorf("read owner of %s: %w", serial, err)
		}
		if err := storage.PutJSON(tx, storage.Blocklist, []byte(serial), rec); err != nil {
			return err
		}
		return audit.Record(tx, rec.At, merchant, audit.CredentialBlocked, actor, serial, map[string]string{"reason": reason})
	})
	if err != nil {
		return fmt.Errorf("block %s: %w", serial, err)
	}
	return refused
}

// Unblock takes the merchant's serial off the blocklist, for reason, by
// by: its codes verify again from the next request on. The lifting and its
// audit entry commit together; the block itself stays in the audit trail.
// A serial that is not blocked for merchant is ErrNotFound.
func (m *Monitor) Unblock(actor audit.Actor, merchant, serial, reason string) error {
	serial = strings.ToLower(serial)
	switch {
	case merchant == "":
		return fmt.Errorf("%w: no merchant", ErrInvalid)
	case len(serial) != serialHexLen:
		return fmt.Errorf("%w: serial must be %d hex digits", ErrInvalid, serialHexLen)
	case reason == "" || len(reason) > MaxNoteLen || !utf8.ValidString(reason):
		return fmt.Errorf("%w: reason must be valid UTF-8 of 1 to %d bytes", ErrInvalid, MaxNoteLen)
	}
	if _, err := hex.DecodeString(serial); err != nil {
		return fmt.Errorf("%w: serial must be %d hex digits", ErrInvalid, serialHexLen)
	}
	var refused error
	err := m.store.Update(func(tx storage.Tx) error {
		refused = nil
		prev, ok := ReadBlock(tx, serial)
		if !ok || prev.Merchant != merchant {
			refused = ErrNotFound
			return nil
		}
		if err := tx.Delete(storage.Blocklist, []byte(serial)); err != nil {
			return err
		}
		return audit.Record(tx, m.now(), merchant, audit.CredentialUnblock, actor, serial, map[string]string{
			"reason": reason, "blocked_at": prev.At.Format(time.RFC3339), "blocked_by": prev.By, "block_reason": prev.Reason})
	})
	if err != nil {
		return fmt.Errorf("unblock %s: %w", serial, err)
	}
	return refused
}

// IsBlocked reports whether serial (hex) is on the blocklist, inside the
// caller's transaction, so that the check and the redemption it guards are
// one transaction.
func IsBlocked(tx storage.Tx, serial string) bool {
	return tx.Get(storage.Blocklist, []byte(strings.ToLower(serial))) != nil
}

// ReadBlock returns the block record of serial (hex), if there is one.
func ReadBlock(tx storage.Tx, serial string) (BlockRecord, bool) {
	var rec BlockRecord
	if err := storage.GetJSON(tx, storage.Blocklist, []byte(strings.ToLower(serial)), &rec); err != nil {
		return BlockRecord{}, false
	}
	return rec, true
}
