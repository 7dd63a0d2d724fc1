package fraud

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/stampseal/stampseal/storage"
)

// ErrNotFound is returned for an alert or serial that does not exist or
// belongs to another merchant: the two are never told apart.
var ErrNotFound = errors.New("fraud: not found")

// ErrInvalid wraps refusals of malformed review requests; the message names
// the bad value.
var ErrInvalid = errors.New("fraud: invalid request")

// Limits of review requests.
const (
	DefaultLimit = 100  // alerts listed when Filter.Limit is 0
	MaxLimit     = 1000 // alerts listed at most
	MaxNoteLen   = 1000 // bytes of a resolution note or block reason
	maxByLen     = 200
)

// Filter selects alerts. Zero fields select everything.
type Filter struct {
	Status   string    // "open", "resolved" or "noted"; empty: open and resolved
	Kind     string    // one of Kinds
	Severity string    // keeps alerts at least this severe
	Since    time.Time // keeps alerts created at or after it
	Limit    int       // at most this many; 0 means DefaultLimit
}

// Validate reports the first field that names nothing, wrapping ErrInvalid.
func (f Filter) Validate() error {
	switch {
	case f.Status != "" && f.Status != StatusOpen && f.Status != StatusResolved && f.Status != StatusNoted:
		return fmt.Errorf("%w: status %q, want open, resolved or noted", ErrInvalid, f.Status)
	case f.Kind != "" && !slices.Contains(Kinds, f.Kind):
		return fmt.Errorf("%w: unknown alert kind %q", ErrInvalid, f.Kind)
	case f.Severity != "" && severityRank(f.Severity) == 0:
		return fmt.Errorf("%w: severity %q, want low, medium, high or critical", ErrInvalid, f.Severity)
	case f.Limit < 0 || f.Limit > MaxLimit:
		return fmt.Errorf("%w: limit %d, want 0 to %d", ErrInvalid, f.Limit, MaxLimit)
	}
	return nil
}

func (f *Filter) match(a *Alert) bool {
	// Noted records are not incidents: they are listed only when asked for.
	return (a.Status == f.Status || (f.Status == "" && a.Status != StatusNoted)) &&
		(f.Kind == "" || a.Kind == f.Kind) &&
		severityRank(a.Severity) >= severityRank(f.Severity)
}

var errStop = errors.New("stop")

// Alerts lists the merchant's alerts that f selects, newest first, with the
// occurrences not yet written counted in.
func (m *Monitor) Alerts(merchant string, f Filter) ([]Alert, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	m.settle()
	pending := m.pending(merchant, "")
	var out []Alert
	err := m.store.View(func(tx storage.Tx) error {
		out = out[:0]
		return tx.Scan(storage.Alerts, []byte(merchant+"/"), func(k, v []byte) error {
			var rec alertRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode alert %x: %w", k, err)
			}
			if rec.Merchant != merchant { // another merchant whose id extends this one
				return nil
			}
			if rec.CreatedAt.Before(f.Since) {
				return errStop // the rest is older still
			}
			if d, ok := pending[rec.ID]; ok {
				rec.apply(&d, m.cfg.EvidenceLimit)
			}
			if f.match(&rec.Alert) {
				out = append(out, rec.Alert)
			}
			if len(out) == limit {
				return errStop
			}
			return nil
		})
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, fmt.Errorf("list alerts of %s: %w", merchant, err)
	}
	return out, nil
}

// Alert returns one alert of the merchant, or ErrNotFound.
func (m *Monitor) Alert(merchant, id string) (Alert, error) {
	m.settle()
	var rec alertRecord
	err := m.store.View(func(tx storage.Tx) error {
		_, err := m.load(tx, merchant, id, &rec)
		return err
	})
	if err != nil {
		return Alert{}, err
	}
	if d, ok := m.pending(merchant, id)[id]; ok {
		rec.apply(&d, m.cfg.EvidenceLimit)
	}
	return rec.Alert, nil
}

// load reads the merchant's alert id and returns its storage key.
func (m *Monitor) load(tx storage.Tx, merchant, id string, rec *alertRecord) ([]byte, error) {
	if id == "" || len(id) > 64 {
		return nil, ErrNotFound
	}
	ak := tx.Get(storage.AlertIndex, idKey(id))
	if ak == nil || merchantOfKey(ak) != merchant {
		return nil, ErrNotFound
	}
	ak = bytes.Clone(ak)
	if err := storage.GetJSON(tx, storage.Alerts, ak, rec); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("alert %s: %w", id, err)
	}
	if rec.Merchant != merchant {
		return nil, ErrNotFound
	}
	return ak, nil
}

// pending copies the unwritten deltas of the merchant's incidents (only
// alert id, when given), keyed by alert id.
func (m *Monitor) pending(merchant, id string) map[string]delta {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out map[string]delta
	add := func(inc *incident) {
		if inc.pend.count == 0 || inc.key.merchant != merchant {
			return
		}
		if out == nil {
			out = make(map[string]delta)
		}
		out[inc.id] = inc.pend.clone(m.cfg.EvidenceLimit)
	}
	if id != "" {
		if inc := m.byID[id]; inc != nil {
			add(inc)
		}
		return out
	}
	for id, inc := range m.byID {
		if id != "" {
			add(inc)
		}
	}
	return out
}

// Resolve closes the merchant's alert id with a note and no verdict; see
// ResolveWith.
func (m *Monitor) Resolve(merchant, id, note, by string) (Alert, error) {
	return m.ResolveWith(merchant, id, Resolving{Note: note, By: by})
}

// ResolveWith closes the merchant's alert id with a note, a verdict and,
// when asked, lifts the throttle of the API key the alert is about.
// Resolving a resolved alert changes nothing and returns it. The next
// occurrence of the same incident opens a new alert.
func (m *Monitor) ResolveWith(merchant, id string, r Resolving) (Alert, error) {
	note, by := r.Note, r.By
	if !r.Verdict.Valid() {
		return Alert{}, fmt.Errorf("%w: verdict %q, want confirmed_fraud, false_positive or benign", ErrInvalid, r.Verdict)
	}
	if len(note) > MaxNoteLen || !utf8.ValidString(note) {
		return Alert{}, fmt.Errorf("%w: note must be valid UTF-8 of at most %d bytes", ErrInvalid, MaxNoteLen)
	}
	if len(by) > maxByLen || !utf8.ValidString(by) {
		return Alert{}, fmt.Errorf("%w: resolver must be valid UTF-8 of at most %d bytes", ErrInvalid, maxByLen)
	}
	// Take the incident out of memory first, so that occurrences from now on
	// go to a new alert; its unwritten occurrences go into the resolved one.
	m.mu.Lock()
	inc := m.byID[id]
	var d delta
	if inc != nil && inc.key.merchant == merchant {
		d = inc.pend
		inc.pend = delta{}
		delete(m.byID, id)
		if m.incidents[inc.key] == inc {
			delete(m.incidents, inc.key)
		}
	}
	m.mu.Unlock()

	at := m.now().UTC()
	var out Alert
	var closed bool
	var refused error
	var liftKey string
	err := m.store.Update(func(tx storage.Tx) error {
		out, closed, refused, liftKey = Alert{}, false, nil, ""
		var rec alertRecord
		ak, err := m.load(tx, merchant, id, &rec)
		if errors.Is(err, ErrNotFound) {
			refused = err // a refusal, not a failure: see storage's doc
			return nil
		} else if err != nil {
			return err
		}
		if rec.Status == StatusResolved {
			out = rec.Alert
			return nil
		}
		wasOpen := rec.Status == StatusOpen
		rec.apply(&d, m.cfg.EvidenceLimit)
		rec.Status = StatusResolved
		rec.Resolution = &Resolution{Note: note, By: by, At: at, Verdict: r.Verdict}
		if scope, subject := subjectOf(rec.Incident); r.LiftThrottle && scope == scopeAPIKey {
			liftKey = subject
			rec.Resolution.ThrottleLifted = true
		}
		ik := []byte(rec.Incident)
		if bytes.Equal(tx.Get(storage.AlertIndex, ik), ak) {
			if err := tx.Delete(storage.AlertIndex, ik); err != nil {
				return err
			}
		}
		out, closed = rec.Alert, wasOpen
		return storage.PutJSON(tx, storage.Alerts, ak, rec)
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		if d.count > 0 { // keep the occurrences for the next write
			m.mu.Lock()
			if cur := m.incidents[inc.key]; cur != nil {
				d.merge(&cur.pend, m.cfg.EvidenceLimit)
				cur.pend = d
			} else {
				inc.pend = d
				m.incidents[inc.key] = inc
				m.byID[id] = inc
			}
			m.mu.Unlock()
		}
		if errors.Is(err, ErrNotFound) {
			return Alert{}, err
		}
		return Alert{}, fmt.Errorf("resolve alert %s: %w", id, err)
	}
	if closed {
		m.metrics.OpenAlerts(int(m.open.Add(-1)))
		if vm, ok := m.metrics.(VerdictMetrics); ok && r.Verdict != "" {
			vm.AlertVerdict(out.Kind, string(r.Verdict))
		}
	}
	if liftKey != "" {
		m.LiftThrottle(merchant, liftKey)
	}
	return out, nil
}

// OpenCount returns how many of the merchant's alerts are open.
func (m *Monitor) OpenCount(merchant string) (int, error) {
	if merchant == "" {
		return 0, nil
	}
	return m.countOpen(merchant)
}

// countOpen counts open alerts of merchant, or of everyone when merchant is
// empty: the incidents in the index each point at one open alert.
func (m *Monitor) countOpen(merchant string) (int, error) {
	prefix := "inc/"
	if merchant != "" {
		prefix += merchant + "/"
	}
	n := 0
	err := m.store.View(func(tx storage.Tx) error {
		n = 0
		return tx.Scan(storage.AlertIndex, []byte(prefix), func(_, v []byte) error {
			if merchant == "" || merchantOfKey(v) == merchant {
				n++
			}
			return nil
		})
	})
	return n, err
}
