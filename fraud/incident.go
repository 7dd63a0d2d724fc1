package fraud

import (
	"slices"
	"time"
)

// Incident aggregation: every finding about the same thing while its alert
// is open adds to one delta, written at most once per WriteEvery.

// delta is what an incident gathered since its last write.
type delta struct {
	kind        string // of the first finding: the alert's kind
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
	if d.kind == "" {
		d.kind = f.kind
	}
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
	e.Shops = addString(e.Shops, f.otherShop, limit)
	e.Shops = addString(e.Shops, f.shop, limit)
	e.Rewards += f.rewards
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
	e.Results[string(ev.Result)] += max(f.weight, 1)
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
	if d.kind == "" {
		d.kind = o.kind
	}
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
	a.escalate()
}

// escalate makes severity grow with the evidence of a copied card or a
// cashier's favours: a pattern seen again and again is surer each time.
func (a *Alert) escalate() {
	switch a.Kind {
	case KindClonedCard, KindDuplicateCard, KindInsider, KindVelocity:
	default:
		return
	}
	switch {
	case a.Count >= 10 || len(a.Evidence.Rules) >= 3:
		a.Severity = SeverityCritical
	case (a.Count >= 3 || len(a.Evidence.Rules) >= 2) && severityRank(a.Severity) < severityRank(SeverityHigh):
		a.Severity = SeverityHigh
	}
}

// note writes a finding that is recorded but not opened for review.
func (m *Monitor) note(ev *Event, now int64, f *finding) {
	var d delta
	d.add(ev, now, f, m.cfg.EvidenceLimit)
	key := incidentKey{f.kind, ev.Merchant, f.scope, f.subject}
	if _, _, err := m.persist(key, &d, StatusNoted); err != nil {
		m.log.Error("fraud: store noted alert", "kind", f.kind, "merchant", ev.Merchant, "err", err)
	}
}

// incident is the in-memory side of an open alert.
type incident struct {
	key       incidentKey
	id        string        // of the stored alert, once written
	pend      delta         // not yet written
	flight    delta         // being written by the background writer (writer.go)
	opening   chan struct{} // closed once the first write, which opens the alert, ended
	writing   bool
	lastWrite time.Time
}

// raise adds a finding to its incident and writes the incident when it is
// new or its last write is at least WriteEvery old.
func (m *Monitor) raise(ev *Event, now int64, f *finding) {
	if f.noted {
		m.note(ev, now, f)
		return
	}
	key := incidentKey{incidentKind(f.kind), ev.Merchant, f.scope, f.subject}
	wall := m.now()
	m.mu.Lock()
	inc := m.incidents[key]
	if inc == nil {
		m.forgetIdle(wall)
		inc = &incident{key: key}
		m.incidents[key] = inc
	}
	inc.pend.add(ev, now, f, m.cfg.EvidenceLimit)
	if opening := inc.opening; opening != nil {
		// Another request is opening this alert: this one is answered
		// after the alert is durable too, not before.
		m.mu.Unlock()
		<-opening
		return
	}
	if inc.writing || (!inc.lastWrite.IsZero() && wall.Sub(inc.lastWrite) < m.cfg.WriteEvery) {
		m.mu.Unlock()
		return
	}
	d := inc.pend
	inc.pend, inc.writing = delta{}, true
	stored := inc.id != ""
	if stored {
		inc.flight = d
	} else {
		inc.opening = make(chan struct{})
	}
	m.mu.Unlock()
	if stored {
		m.later(inc)
		return
	}
	// Not written by this process yet: its alert may be open in storage
	// from before (a restart, an incident forgotten while idle); then this
	// is an update like any other.
	if id := m.openAlert(key); id != "" {
		m.mu.Lock()
		inc.flight = d
		if inc.id == "" && m.incidents[key] == inc {
			inc.id = id
			m.byID[id] = inc
		}
		close(inc.opening)
		inc.opening = nil
		m.mu.Unlock()
		m.later(inc)
		return
	}
	m.write(inc, d) // opens the alert: durable before the request is answered
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

// write stores d for inc, which the caller marked as writing, and waits
// until it is durable.
func (m *Monitor) write(inc *incident, d delta) error {
	a, created, err := m.persist(inc.key, &d, StatusOpen)
	return m.written(inc, d, a, created, err)
}

// written ends a write of inc, whose delta was d: on failure d goes back
// to the pending delta, to be written with the next one.
func (m *Monitor) written(inc *incident, d delta, a Alert, created bool, err error) error {
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
	inc.flight = delta{}
	if inc.opening != nil {
		close(inc.opening)
		inc.opening = nil
	}
	m.mu.Unlock()
	if err != nil {
		m.log.Error("fraud: store alert", "kind", inc.key.kind, "merchant", inc.key.merchant, "err", err)
		return err
	}
	if created {
		m.metrics.AlertRaised(a.Kind)
		m.metrics.OpenAlerts(int(m.open.Add(1)))
	}
	return nil
}
