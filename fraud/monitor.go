// Package fraud watches verification events for forged, copied and replayed
// codes, raises alerts with their evidence, throttles registers and
// addresses that guess codes, and keeps the blocklist.
//
// The verify package calls (*Monitor).Observe after every operation. Observe
// keeps sliding windows in memory (sharded by card or register) and touches
// storage only when an alert is raised or updated, at most once per second
// per incident. An incident (a kind, a merchant and what the alert is about:
// a serial, a register, an address or a key) maps to one open alert; every
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
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stampseal/stampseal/storage"
)

// Config holds the thresholds of the detectors. Zero fields take the value
// of DefaultConfig.
type Config struct {
	// DuplicateWindow: one card used successfully at two different registers
	// within it raises duplicate_card.
	DuplicateWindow time.Duration
	// GuessLimit invalid codes from one register, or SourceGuessLimit from
	// one source address, within GuessWindow raise guessing and throttle it
	// for ThrottleFor. The address limit is higher because the tills of a
	// shop often share one address: one till's flood throttles that till,
	// not its neighbours.
	GuessLimit       int
	SourceGuessLimit int
	GuessWindow      time.Duration
	ThrottleFor      time.Duration
	// More than VelocityLimit stamps, claims or redemptions of one serial
	// within VelocityWindow raise velocity.
	VelocityLimit  int
	VelocityWindow time.Duration
	// InsiderWindow is the look-back of both insider rules. A register that
	// gave more than InsiderShare of a card's stamps, once the card has at
	// least InsiderMinStamps in the window, raises insider.
	InsiderWindow    time.Duration
	InsiderMinStamps int
	InsiderShare     float64
	// A claim with the register name, API key or source address that issued
	// the punch, less than QuickClaim after issue, is a quick self-claim; a card that
	// collects InsiderQuickClaims of them within InsiderWindow raises insider.
	QuickClaim         time.Duration
	InsiderQuickClaims int
	// ReplayGrace: an already_redeemed code at the register that redeemed it
	// less than ReplayGrace earlier is a double scan, not a replay.
	ReplayGrace time.Duration
	// WriteEvery bounds storage writes for one hot incident.
	WriteEvery time.Duration
	// MaxTracked bounds the cards, registers and addresses held in memory;
	// beyond it the stalest are dropped.
	MaxTracked int
	// EvidenceLimit bounds each list in an alert's evidence.
	EvidenceLimit int
}

// DefaultConfig returns thresholds meant for a shop with a few registers.
func DefaultConfig() Config {
	return Config{
		DuplicateWindow:    2 * time.Minute,
		GuessLimit:         20,
		SourceGuessLimit:   100,
		GuessWindow:        time.Minute,
		ThrottleFor:        5 * time.Minute,
		VelocityLimit:      5,
		VelocityWindow:     10 * time.Minute,
		InsiderWindow:      24 * time.Hour,
		InsiderMinStamps:   10,
		InsiderShare:       0.8,
		QuickClaim:         30 * time.Second,
		InsiderQuickClaims: 3,
		ReplayGrace:        10 * time.Second,
		WriteEvery:         time.Second,
		MaxTracked:         1 << 20,
		EvidenceLimit:      10,
	}
}

// maxHistory bounds the uses kept per card; VelocityLimit must stay below it.
const maxHistory = 64

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	seti := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	set(&c.DuplicateWindow, d.DuplicateWindow)
	set(&c.GuessWindow, d.GuessWindow)
	set(&c.ThrottleFor, d.ThrottleFor)
	set(&c.VelocityWindow, d.VelocityWindow)
	set(&c.InsiderWindow, d.InsiderWindow)
	set(&c.QuickClaim, d.QuickClaim)
	set(&c.ReplayGrace, d.ReplayGrace)
	set(&c.WriteEvery, d.WriteEvery)
	seti(&c.GuessLimit, d.GuessLimit)
	seti(&c.SourceGuessLimit, d.SourceGuessLimit)
	seti(&c.VelocityLimit, d.VelocityLimit)
	seti(&c.InsiderMinStamps, d.InsiderMinStamps)
	seti(&c.InsiderQuickClaims, d.InsiderQuickClaims)
	seti(&c.MaxTracked, d.MaxTracked)
	seti(&c.EvidenceLimit, d.EvidenceLimit)
	if c.InsiderShare == 0 {
		c.InsiderShare = d.InsiderShare
	}
	return c
}

// Validate reports the first field that no detector can work with, by name.
// Zero fields are valid: they take the defaults.
func (c Config) Validate() error {
	c = c.withDefaults()
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"DuplicateWindow", c.DuplicateWindow}, {"GuessWindow", c.GuessWindow}, {"ThrottleFor", c.ThrottleFor},
		{"VelocityWindow", c.VelocityWindow}, {"InsiderWindow", c.InsiderWindow}, {"QuickClaim", c.QuickClaim},
		{"ReplayGrace", c.ReplayGrace}, {"WriteEvery", c.WriteEvery},
	} {
		if d.v < 0 {
			return fmt.Errorf("fraud config: %s = %v, want a positive duration", d.name, d.v)
		}
	}
	switch {
	case c.GuessLimit < 1 || c.GuessLimit > 10000:
		return fmt.Errorf("fraud config: GuessLimit = %d, want 1 to 10000", c.GuessLimit)
	case c.SourceGuessLimit < 1 || c.SourceGuessLimit > 10000:
		return fmt.Errorf("fraud config: SourceGuessLimit = %d, want 1 to 10000", c.SourceGuessLimit)
	case c.VelocityLimit < 1 || c.VelocityLimit >= maxHistory:
		return fmt.Errorf("fraud config: VelocityLimit = %d, want 1 to %d", c.VelocityLimit, maxHistory-1)
	case c.InsiderMinStamps < 1:
		return fmt.Errorf("fraud config: InsiderMinStamps = %d, want at least 1", c.InsiderMinStamps)
	case c.InsiderShare <= 0 || c.InsiderShare > 1:
		return fmt.Errorf("fraud config: InsiderShare = %v, want more than 0 and at most 1", c.InsiderShare)
	case c.InsiderQuickClaims < 1 || c.InsiderQuickClaims > maxHistory:
		return fmt.Errorf("fraud config: InsiderQuickClaims = %d, want 1 to %d", c.InsiderQuickClaims, maxHistory)
	case c.MaxTracked < numShards:
		return fmt.Errorf("fraud config: MaxTracked = %d, want at least %d", c.MaxTracked, numShards)
	case c.EvidenceLimit < 1 || c.EvidenceLimit > 100:
		return fmt.Errorf("fraud config: EvidenceLimit = %d, want 1 to 100", c.EvidenceLimit)
	}
	return nil
}

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

	open atomic.Int64 // open alerts across merchants, for Metrics

	voids voidTallies // the void rules' memory (voids.go)
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
	}
	for _, o := range opts {
		o(m)
	}
	for i := range m.shards {
		m.shards[i].init()
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

// Throttled reports whether the register or the source address of merchant
// has hit the guessing threshold and is still in its penalty, and for how
// much longer. Empty register or source are not checked.
func (m *Monitor) Throttled(merchant, register, source string) (retryAfter time.Duration, throttled bool) {
	now := m.now().UnixNano()
	var until int64
	for _, k := range [2]subjectKey{{merchant, register, scopeRegister}, {merchant, source, scopeSource}} {
		if k.id == "" {
			continue
		}
		sh := m.shard(k.id)
		sh.mu.Lock()
		if o := sh.offenders[k]; o != nil && o.until > until {
			until = o.until
		}
		sh.mu.Unlock()
	}
	if until <= now {
		return 0, false
	}
	return time.Duration(until - now), true
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
	cut(&ev.Result, 32)
	cut(&ev.CodeHash, 16)
}

// Flush writes the occurrences that the once-per-WriteEvery limit held back.
// Call it at shutdown; until then Alerts and Alert count them in anyway.
func (m *Monitor) Flush() error {
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
