// Package fraud watches verification events for forged, copied and replayed
// codes, raises alerts with their evidence, throttles the API keys that
// guess codes, keeps the blocklist, the merchants' shops and staff cards,
// and records the verdicts auditors give.
//
// The verify package calls (*Monitor).Observe after every operation. Observe
// keeps sliding windows in memory (sharded by card or API key) and touches
// storage only when an alert is raised or updated, at most once per second
// per incident. An incident (a kind, a merchant and what the alert is about:
// a serial, an API key or a signing key) maps to one open alert; every
// further occurrence adds to its count and evidence. In between storage
// writes the in-memory count is authoritative: Alerts and Alert add it to
// what they read, and Flush writes it out (call it at shutdown).
//
// In-memory state is per process. With several verifier nodes on a shared
// store, each node detects on its own traffic; their writes to one incident
// add up, because every write adds a delta inside a transaction.
package fraud

import (
	"errors"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stampseal/stampseal/storage"
)

// Metrics receives the monitor's counters; the Prometheus implementation
// lives in the metrics package. Kind values come from the fixed Kind* set.
type Metrics interface {
	// AlertRaised is called once per new alert (not per occurrence).
	AlertRaised(kind string)
	// OpenAlerts reports how many alerts are open across all merchants.
	OpenAlerts(n int)
}

type nopMetrics struct{}

func (nopMetrics) AlertRaised(string) {}
func (nopMetrics) OpenAlerts(int)     {}

// Option configures a Monitor.
type Option func(*Monitor)

// WithClock makes the monitor read time from now instead of time.Now, for
// tests. Events that carry a Time are judged by it.
func WithClock(now func() time.Time) Option { return func(m *Monitor) { m.now = now } }

// WithMetrics reports to mx instead of nowhere.
func WithMetrics(mx Metrics) Option { return func(m *Monitor) { m.metrics = mx } }

// WithLogger logs storage failures to l instead of slog.Default().
func WithLogger(l *slog.Logger) Option { return func(m *Monitor) { m.log = l } }

const numShards = 64

// Monitor runs the detectors and owns alerts and the blocklist. It is safe
// for concurrent use.
type Monitor struct {
	store   storage.Backend
	cfg     Config
	now     func() time.Time
	metrics Metrics
	log     *slog.Logger
	rules   rules

	seed   maphash.Seed
	shards [numShards]shard

	mu        sync.Mutex // guards incidents, byID and incSweep
	incidents map[incidentKey]*incident
	byID      map[string]*incident
	incSweep  time.Time

	placesMu sync.RWMutex        // guards shops, keyShops and staff
	shops    map[string]place    // merchant/shop -> place
	keyShops map[string]keyPlace // API key id -> its shop
	staff    map[string]bool     // merchant/serial of staff cards

	open atomic.Int64 // open alerts across merchants, for Metrics

	voids voidTallies // the void rules' memory (voids.go)

	writer writer // alert updates off the request path (writer.go)
}

// New returns a monitor over store. Zero fields of cfg take their defaults;
// New panics if cfg fails Validate, so validate configuration when loading it.
func New(store storage.Backend, cfg Config, opts ...Option) *Monitor {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	m := &Monitor{
		store:     store,
		cfg:       cfg.withDefaults(),
		rules:     newRules(cfg.withDefaults()),
		now:       time.Now,
		metrics:   nopMetrics{},
		log:       slog.Default(),
		seed:      maphash.MakeSeed(),
		incidents: make(map[incidentKey]*incident),
		byID:      make(map[string]*incident),
		shops:     make(map[string]place),
		keyShops:  make(map[string]keyPlace),
		staff:     make(map[string]bool),
	}
	for _, o := range opts {
		o(m)
	}
	for i := range m.shards {
		m.shards[i].init()
	}
	m.writer.progress.L = &m.writer.mu
	if err := m.loadPlaces(); err != nil {
		m.log.Error("fraud: load shops", "err", err)
	}
	n, err := m.countOpen("")
	if err != nil {
		m.log.Error("fraud: count open alerts", "err", err)
	}
	m.open.Store(int64(n))
	m.metrics.OpenAlerts(n)
	return m
}

// Observe feeds one event to the detectors. It is cheap when nothing is
// wrong (a few map operations under a shard lock) and writes to storage only
// when it raises or updates an alert. An idempotent retry (ev.Retry) is
// ignored altogether.
func (m *Monitor) Observe(ev Event) {
	if ev.Retry || ev.Merchant == "" {
		return
	}
	bound(&ev)
	now := ev.Time.UnixNano()
	if ev.Time.IsZero() {
		now = m.now().UnixNano()
	}
	var found findings
	m.keyDay(&ev, now, &found)
	if ev.Result == ResultOK {
		m.observeOK(&ev, now, &found)
	} else {
		m.observeRefusal(&ev, now, &found)
	}
	m.watchVoids(&ev, now, &found)
	for i := range found.n {
		m.raise(&ev, now, &found.list[i])
	}
}

func (m *Monitor) shard(id string) *shard {
	return &m.shards[maphash.String(m.seed, id)%numShards]
}

// bound cuts the strings of an event that end up in memory and evidence.
func bound(ev *Event) {
	cut := func(s *string, n int) {
		if len(*s) > n {
			*s = (*s)[:n]
		}
	}
	cut(&ev.Merchant, 64)
	cut(&ev.Register, 64)
	cut(&ev.APIKey, 64)
	cut(&ev.Source, 64)
	cut(&ev.Serial, 64)
	cut(&ev.Card, 64)
	cut(&ev.CodeHash, 16)
}

// Flush waits for the background writer, then writes the occurrences that
// the once-per-WriteEvery limit held back. Call it at shutdown; until then
// Alerts and Alert count them in anyway.
func (m *Monitor) Flush() error {
	m.settle()
	type job struct {
		inc *incident
		d   delta
	}
	var jobs []job
	m.mu.Lock()
	for _, inc := range m.incidents {
		if !inc.writing && inc.pend.count > 0 {
			jobs = append(jobs, job{inc, inc.pend})
			inc.pend, inc.writing = delta{}, true
		}
	}
	m.mu.Unlock()
	var errs []error
	for _, j := range jobs {
		errs = append(errs, m.write(j.inc, j.d))
	}
	return errors.Join(errs...)
}
