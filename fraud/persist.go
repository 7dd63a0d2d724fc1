package fraud

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"

	"github.com/stampseal/stampseal/storage"
)

// Persistence: alerts in storage.Alerts, open incidents in
// storage.AlertIndex.

// incidentKey names an incident: what an open alert is about.
type incidentKey struct {
	kind, merchant, scope, subject string
}

// index is the incident's key in storage.AlertIndex; it maps to the storage
// key of the open alert.
func (k incidentKey) index() []byte {
	return []byte("inc/" + k.merchant + "/" + k.kind + "/" + k.scope + "/" + k.subject)
}

// alertKey is where an alert lives in storage.Alerts: the merchant, then the
// inverted sequence, so that a prefix scan lists a merchant's alerts newest
// first.
func alertKey(merchant string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte(merchant+"/"), ^seq)
}

// merchantOfKey reads the merchant back from an alert key.
func merchantOfKey(k []byte) string {
	if len(k) < 9 {
		return ""
	}
	return string(k[:len(k)-9])
}

// idKey maps an alert id to its alert key in storage.AlertIndex.
func idKey(id string) []byte { return []byte("id/" + id) }

// incidentKind is the kind an incident is filed under: a card copied is one
// incident whether it first shows as duplicate_card or as cloned_card.
func incidentKind(kind string) string {
	if kind == KindDuplicateCard {
		return KindClonedCard
	}
	return kind
}

// alertRecord is an alert as stored: with its incident key, which Resolve
// removes from the index.
type alertRecord struct {
	Alert
	Incident string `json:"incident"`
}

var errIDTaken = errors.New("fraud: alert id already taken")

// persist adds d to the open alert of the incident, or opens a new alert
// when there is none (first occurrence, or the last one was resolved). A
// noted record (status StatusNoted) is written on its own, outside the
// incident index: it is not an incident for review.
func (m *Monitor) persist(key incidentKey, d *delta, status string) (out Alert, created bool, err error) {
	id, err := newAlertID()
	if err != nil {
		return Alert{}, false, err
	}
	err = m.store.Update(func(tx storage.Tx) error {
		out, created, err = m.persistIn(tx, key, d, status, id)
		return err
	})
	return out, created, err
}

// newAlertID returns a random alert id.
func newAlertID() (string, error) {
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(raw[:]), nil
}

// persistIn is persist inside tx; a new alert gets id.
func (m *Monitor) persistIn(tx storage.Tx, key incidentKey, d *delta, status, id string) (out Alert, created bool, err error) {
	limit := m.cfg.EvidenceLimit
	ik := key.index()
	if ak := tx.Get(storage.AlertIndex, ik); ak != nil && status == StatusOpen {
		ak = bytes.Clone(ak)
		var rec alertRecord
		// A record that is gone, unreadable or resolved leaves the
		// incident without an open alert: open a new one below.
		if err := storage.GetJSON(tx, storage.Alerts, ak, &rec); err == nil && rec.Status == StatusOpen {
			rec.apply(d, limit)
			return rec.Alert, false, storage.PutJSON(tx, storage.Alerts, ak, rec)
		}
	}
	if tx.Get(storage.AlertIndex, idKey(id)) != nil {
		return Alert{}, false, errIDTaken
	}
	seq, err := tx.Sequence(storage.Alerts)
	if err != nil {
		return Alert{}, false, err
	}
	ak := alertKey(key.merchant, seq)
	rec := alertRecord{Incident: string(ik), Alert: Alert{
		ID:        id,
		Kind:      d.kind,
		Severity:  d.severity,
		Serial:    d.serial,
		Merchant:  key.merchant,
		CreatedAt: time.Unix(0, d.first).UTC(),
		LastSeen:  time.Unix(0, d.last).UTC(),
		Count:     d.count,
		Status:    status,
	}}
	if rec.Kind == "" {
		rec.Kind = key.kind
	}
	rec.Evidence.merge(&d.ev, limit)
	rec.escalate()
	index := [][2][]byte{{ik, ak}, {idKey(id), ak}}
	if status != StatusOpen {
		rec.Incident, index = "", index[1:]
	}
	for _, kv := range index {
		if err := tx.Put(storage.AlertIndex, kv[0], kv[1]); err != nil {
			return Alert{}, false, err
		}
	}
	return rec.Alert, true, storage.PutJSON(tx, storage.Alerts, ak, rec)
}

// openAlert returns the id of the incident's open alert in storage, or "".
func (m *Monitor) openAlert(key incidentKey) string {
	var id string
	m.store.View(func(tx storage.Tx) error {
		ak := tx.Get(storage.AlertIndex, key.index())
		if ak == nil {
			return nil
		}
		var rec alertRecord
		if storage.GetJSON(tx, storage.Alerts, ak, &rec) == nil && rec.Status == StatusOpen {
			id = rec.ID
		}
		return nil
	})
	return id
}
