package fraud

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"time"

	"github.com/stampseal/stampseal/storage"
)

// Alert kinds.
const (
	KindCounterfeit    = "counterfeit"     // bad signature, unknown key, another merchant's code
	KindReplay         = "replay"          // a used code presented again
	KindDuplicateCard  = "duplicate_card"  // one card in two places at once
	KindVelocity       = "velocity"        // more uses of one code than a window allows
	KindUnissuedSerial = "unissued_serial" // valid signature, serial never issued: key leak
	KindCompromisedKey = "compromised_key" // code signed by a key marked compromised
	KindGuessing       = "guessing"        // many invalid codes from one register or address
	KindInsider        = "insider"         // a register favouring the same few cards
)

// Kinds lists every alert kind.
var Kinds = []string{KindCounterfeit, KindReplay, KindDuplicateCard, KindVelocity,
	KindUnissuedSerial, KindCompromisedKey, KindGuessing, KindInsider}

// Alert severities, least severe first.
const (
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Alert statuses.
const (
	StatusOpen     = "open"
	StatusResolved = "resolved"
)

// severityRank orders severities; unknown ones rank 0.
func severityRank(s string) int {
	switch s {
	case SeverityLow:
		return 1
	case SeverityMedium:
		return 2
	case SeverityHigh:
		return 3
	case SeverityCritical:
		return 4
	}
	return 0
}

// Alert is one incident: every occurrence of the same kind about the same
// card, register, address or key while it is open. Serial is the card or
// code it is about; for an incident about a register, address or key it is
// the first serial seen, if any.
type Alert struct {
	ID         string      `json:"id"`
	Kind       string      `json:"kind"`
	Severity   string      `json:"severity"`
	Serial     string      `json:"serial"`
	Merchant   string      `json:"merchant"`
	CreatedAt  time.Time   `json:"created_at"`
	LastSeen   time.Time   `json:"last_seen"`
	Count      int         `json:"count"`
	Status     string      `json:"status"`
	Evidence   Evidence    `json:"evidence"`
	Resolution *Resolution `json:"resolution,omitempty"`
}

// Evidence is what the detectors saw. Every list holds at most
// Config.EvidenceLimit entries (the first distinct ones; for Times the most
// recent). It never holds a code: only serials, key ids and hash prefixes.
type Evidence struct {
	Rules          []string       `json:"rules"`                 // the rules that fired
	Registers      []string       `json:"registers,omitempty"`   // registers involved
	Sources        []string       `json:"sources,omitempty"`     // client addresses involved
	APIKeys        []string       `json:"api_keys,omitempty"`    // ids of the API keys used
	Serials        []string       `json:"serials,omitempty"`     // serials presented
	CodeHashes     []string       `json:"code_hashes,omitempty"` // SHA-256 prefixes of the codes presented
	KeyIDs         []uint32       `json:"key_ids,omitempty"`     // signing key ids seen
	Results        map[string]int `json:"results,omitempty"`     // verification results and how often; sums to count
	Times          []time.Time    `json:"times,omitempty"`       // when, most recent last
	ThrottledUntil time.Time      `json:"throttled_until,omitzero"`
}

// Resolution is how an auditor closed an alert.
type Resolution struct {
	Note string    `json:"note"`
	By   string    `json:"by"`
	At   time.Time `json:"at"`
}

func addString(list []string, s string, limit int) []string {
	if s == "" || len(list) >= limit || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func (e *Evidence) addTime(t time.Time, limit int) {
	e.Times = append(e.Times, t)
	if n := len(e.Times) - limit; n > 0 {
		e.Times = append(e.Times[:0], e.Times[n:]...)
	}
}

// merge adds o to e; o is only read.
func (e *Evidence) merge(o *Evidence, limit int) {
	for _, p := range []struct{ dst, src *[]string }{
		{&e.Rules, &o.Rules}, {&e.Registers, &o.Registers}, {&e.Sources, &o.Sources},
		{&e.APIKeys, &o.APIKeys}, {&e.Serials, &o.Serials}, {&e.CodeHashes, &o.CodeHashes},
	} {
		for _, s := range *p.src {
			*p.dst = addString(*p.dst, s, limit)
		}
	}
	for _, id := range o.KeyIDs {
		if len(e.KeyIDs) < limit && !slices.Contains(e.KeyIDs, id) {
			e.KeyIDs = append(e.KeyIDs, id)
		}
	}
	for r, n := range o.Results {
		if e.Results == nil {
			e.Results = make(map[string]int, len(o.Results))
		}
		e.Results[r] += n
	}
	for _, t := range o.Times {
		e.addTime(t, limit)
	}
	if o.ThrottledUntil.After(e.ThrottledUntil) {
		e.ThrottledUntil = o.ThrottledUntil
	}
}

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

// alertRecord is an alert as stored: with its incident key, which Resolve
// removes from the index.
type alertRecord struct {
	Alert
	Incident string `json:"incident"`
}

// delta is what an incident gathered since its last write.
type delta struct {
	count       int
	first, last int64
	severity    string
	serial      string
	ev          Evidence
}

func (d *delta) add(ev *Event, now int64, f *finding, limit int) {
	if d.count == 0 || now < d.first {
		d.first = now
	}
	d.last = max(d.last, now)
	d.count += max(f.weight, 1)
	if severityRank(f.severity) > severityRank(d.severity) {
		d.severity = f.severity
	}
	if d.serial == "" {
		d.serial = f.serial
	}
	e := &d.ev
	e.Rules = addString(e.Rules, f.rule, limit)
	e.Registers = addString(e.Registers, f.otherRegister, limit)
	e.Registers = addString(e.Registers, ev.Register, limit)
	e.Sources = addString(e.Sources, ev.Source, limit)
	e.APIKeys = addString(e.APIKeys, ev.APIKey, limit)
	e.Serials = addString(e.Serials, f.serial, limit)
	e.Serials = addString(e.Serials, ev.Serial, limit)
	e.CodeHashes = addString(e.CodeHashes, ev.CodeHash, limit)
	if ev.KeyID != 0 && len(e.KeyIDs) < limit && !slices.Contains(e.KeyIDs, ev.KeyID) {
		e.KeyIDs = append(e.KeyIDs, ev.KeyID)
	}
	if e.Results == nil {
		e.Results = make(map[string]int, 2)
	}
	e.Results[ev.Result] += max(f.weight, 1)
	if f.otherAt != 0 {
		e.addTime(time.Unix(0, f.otherAt).UTC(), limit)
	}
	e.addTime(time.Unix(0, now).UTC(), limit)
	if t := time.Unix(0, f.throttledUntil).UTC(); f.throttledUntil != 0 && t.After(e.ThrottledUntil) {
		e.ThrottledUntil = t
	}
}

// merge adds a later delta to d.
func (d *delta) merge(o *delta, limit int) {
	if o.count == 0 {
		return
	}
	if d.count == 0 || o.first < d.first {
		d.first = o.first
	}
	d.last = max(d.last, o.last)
	d.count += o.count
	if severityRank(o.severity) > severityRank(d.severity) {
		d.severity = o.severity
	}
	if d.serial == "" {
		d.serial = o.serial
	}
	d.ev.merge(&o.ev, limit)
}

// clone returns a delta that shares no memory with d.
func (d *delta) clone(limit int) delta {
	c := *d
	c.ev = Evidence{}
	c.ev.merge(&d.ev, limit)
	return c
}

// apply adds d to a stored alert.
func (a *Alert) apply(d *delta, limit int) {
	if d.count == 0 {
		return
	}
	a.Count += d.count
	if t := time.Unix(0, d.last).UTC(); t.After(a.LastSeen) {
		a.LastSeen = t
	}
	if severityRank(d.severity) > severityRank(a.Severity) {
		a.Severity = d.severity
	}
	if a.Serial == "" {
		a.Serial = d.serial
	}
	a.Evidence.merge(&d.ev, limit)
}

// incident is the in-memory side of an open alert.
type incident struct {
	key       incidentKey
	id        string // of the stored alert, once written
	pend      delta  // not yet written
	writing   bool
	lastWrite time.Time
}

// raise adds a finding to its incident and writes the incident when it is
// new or its last write is at least WriteEvery old.
func (m *Monitor) raise(ev *Event, now int64, f *finding) {
	key := incidentKey{f.kind, ev.Merchant, f.scope, f.subject}
	wall := m.now()
	m.mu.Lock()
	inc := m.incidents[key]
	if inc == nil {
		m.forgetIdle(wall)
		inc = &incident{key: key}
		m.incidents[key] = inc
	}
	inc.pend.add(ev, now, f, m.cfg.EvidenceLimit)
	if inc.writing || (!inc.lastWrite.IsZero() && wall.Sub(inc.lastWrite) < m.cfg.WriteEvery) {
		m.mu.Unlock()
		return
	}
	d := inc.pend
	inc.pend, inc.writing = delta{}, true
	m.mu.Unlock()
	m.write(inc, d)
}

// forgetIdle drops, now and then, incidents with nothing to write; their
// alerts stay open in storage and the next occurrence finds them there.
// Called with m.mu held.
func (m *Monitor) forgetIdle(wall time.Time) {
	if len(m.incidents) < 256 || wall.Sub(m.incSweep) < time.Minute {
		return
	}
	m.incSweep = wall
	for k, inc := range m.incidents {
		if !inc.writing && inc.pend.count == 0 && wall.Sub(inc.lastWrite) >= m.cfg.WriteEvery {
			delete(m.incidents, k)
			delete(m.byID, inc.id)
		}
	}
}

// write stores d for inc, which the caller marked as writing. On failure d
// goes back to the pending delta, to be written with the next one.
func (m *Monitor) write(inc *incident, d delta) error {
	a, created, err := m.persist(inc.key, &d)
	m.mu.Lock()
	inc.writing, inc.lastWrite = false, m.now()
	switch {
	case err != nil:
		d.merge(&inc.pend, m.cfg.EvidenceLimit)
		inc.pend = d
	case a.ID != inc.id:
		delete(m.byID, inc.id)
		inc.id = a.ID
		if m.incidents[inc.key] == inc { // not resolved meanwhile
			m.byID[a.ID] = inc
		}
	}
	m.mu.Unlock()
	if err != nil {
		m.log.Error("fraud: store alert", "kind", inc.key.kind, "merchant", inc.key.merchant, "err", err)
		return err
	}
	if created {
		m.metrics.AlertRaised(inc.key.kind)
		m.metrics.OpenAlerts(int(m.open.Add(1)))
	}
	return nil
}

var errIDTaken = errors.New("fraud: alert id already taken")

// persist adds d to the open alert of the incident, or opens a new alert
// when there is none (first occurrence, or the last one was resolved).
func (m *Monitor) persist(key incidentKey, d *delta) (out Alert, created bool, err error) {
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Alert{}, false, err
	}
	id := hex.EncodeToString(raw[:])
	limit := m.cfg.EvidenceLimit
	ik := key.index()
	err = m.store.Update(func(tx storage.Tx) error {
		out, created = Alert{}, false
		if ak := tx.Get(storage.AlertIndex, ik); ak != nil {
			ak = bytes.Clone(ak)
			var rec alertRecord
			// A record that is gone, unreadable or resolved leaves the
			// incident without an open alert: open a new one below.
			if err := storage.GetJSON(tx, storage.Alerts, ak, &rec); err == nil && rec.Status == StatusOpen {
				rec.apply(d, limit)
				out = rec.Alert
				return storage.PutJSON(tx, storage.Alerts, ak, rec)
			}
		}
		if tx.Get(storage.AlertIndex, idKey(id)) != nil {
			return errIDTaken
		}
		seq, err := tx.Sequence(storage.Alerts)
		if err != nil {
			return err
		}
		ak := alertKey(key.merchant, seq)
		rec := alertRecord{Incident: string(ik), Alert: Alert{
			ID:        id,
			Kind:      key.kind,
			Severity:  d.severity,
			Serial:    d.serial,
			Merchant:  key.merchant,
			CreatedAt: time.Unix(0, d.first).UTC(),
			LastSeen:  time.Unix(0, d.last).UTC(),
			Count:     d.count,
			Status:    StatusOpen,
		}}
		rec.Evidence.merge(&d.ev, limit)
		for _, kv := range [][2][]byte{{ik, ak}, {idKey(id), ak}} {
			if err := tx.Put(storage.AlertIndex, kv[0], kv[1]); err != nil {
				return err
			}
		}
		out, created = rec.Alert, true
		return storage.PutJSON(tx, storage.Alerts, ak, rec)
	})
	return out, created, err
}
