// Package till is the till agent: a small server beside a point of sale
// that answers the register routes of the API. While the stampseal server
// answers, the agent forwards each request and passes the server's answer
// back. When the server cannot be reached (connection refused, timeout,
// 5xx), the agent decides alone from a snapshot of the merchant's public
// keys, blocklist and offline policy and from its own ledger of the codes
// used at this till; it queues what it decided, with the till's time, and
// syncs the queue in order, exactly once, when the server is back.
package till

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stampseal/stampseal/client"
	"github.com/stampseal/stampseal/offline"
)

// Config is what the agent needs to run.
type Config struct {
	Upstream string // the server's base URL
	Token    string // the till's register API key
	DataDir  string // holds till.db
	// Timeout bounds one request to the server; past it the agent decides
	// alone. Default 2s.
	Timeout time.Duration
	// Refresh is how often the snapshot is refreshed and, offline, how
	// often the server is tried again. Default 10s.
	Refresh time.Duration
	// Retry is how often the agent probes the server while offline or with
	// operations queued. Default 1s.
	Retry time.Duration
	Now   func() time.Time // default time.Now
	Log   *slog.Logger
}

func (c *Config) defaults() error {
	switch {
	case c.Upstream == "":
		return errors.New("till: the upstream server's URL is required")
	case c.Token == "":
		return errors.New("till: the register token is required")
	case c.DataDir == "":
		return errors.New("till: a data directory is required")
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.Refresh <= 0 {
		c.Refresh = 10 * time.Second
	}
	if c.Retry <= 0 {
		c.Retry = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Agent is a running till agent. It is safe for concurrent use.
type Agent struct {
	cfg Config
	up  *upstream
	led *ledger
	log *slog.Logger
	now func() time.Time

	view        atomic.Pointer[view]
	online      atomic.Bool
	disowned    atomic.Bool  // the server refused the till's key: nothing is decided offline
	lastContact atomic.Int64 // unix nanoseconds
	etag        atomic.Pointer[string]

	syncMu sync.Mutex // one sync at a time
	kick   chan struct{}
	stats  counters

	registry *prometheus.Registry
}

// Open opens the agent's ledger in cfg.DataDir and loads the snapshot it
// kept, so that an agent restarted without a network can decide at once.
func Open(cfg Config) (*Agent, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("till: create data directory: %w", err)
	}
	led, err := openLedger(filepath.Join(cfg.DataDir, "till.db"))
	if err != nil {
		return nil, err
	}
	up, err := newUpstream(cfg.Upstream, cfg.Token, cfg.Timeout)
	if err != nil {
		led.close()
		return nil, fmt.Errorf("till: --upstream: %w", err)
	}
	a := &Agent{cfg: cfg, up: up, led: led, log: cfg.Log, now: cfg.Now, kick: make(chan struct{}, 1)}
	a.registerMetrics()
	a.online.Store(true) // until the server fails to answer
	if t := led.timeState(keyContact); !t.IsZero() {
		a.lastContact.Store(t.UnixNano())
	}
	a.disowned.Store(string(led.state(keyDisowned)) == "true")
	etag := string(led.state(keyETag))
	a.etag.Store(&etag)
	if raw := led.state(keySnapshot); raw != nil {
		v, err := newView(raw, led.timeState(keySnapshotAt))
		if err != nil {
			a.log.Warn("till: stored snapshot unreadable; waiting for a new one", "err", err)
			empty := ""
			a.etag.Store(&empty)
		} else {
			a.view.Store(v)
		}
	}
	return a, nil
}

// Close closes the agent's ledger. Stop Run first.
func (a *Agent) Close() error { return a.led.close() }

// Run keeps the snapshot fresh and the queue synced until ctx ends: every
// Refresh online, every Retry while offline or with operations queued.
func (a *Agent) Run(ctx context.Context) {
	var lastRefresh time.Time
	for {
		n, _ := a.led.queueState()
		due := !a.online.Load() || n > 0 || a.view.Load() == nil || a.now().Sub(lastRefresh) >= a.cfg.Refresh
		if due {
			if err := a.Refresh(ctx); err == nil {
				lastRefresh = a.now()
				if n > 0 {
					if err := a.Sync(ctx); err != nil {
						a.log.Warn("till: sync stopped", "err", err)
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-a.kick:
		case <-time.After(a.cfg.Retry):
		}
	}
}

// wake asks Run for a round now (after the server answered again).
func (a *Agent) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// keyAnswer notes what the server's answer says of the till's key: a 401
// (revoked, expired, unknown) disowns the agent, which from then on
// decides nothing offline, also across restarts, until the server takes
// the key again. A till whose key was revoked must not keep selling by
// cutting its own network.
func (a *Agent) keyAnswer(status int) {
	var change bool
	switch {
	case status == http.StatusUnauthorized:
		change = !a.disowned.Swap(true)
	case status != 0 && status < 300:
		change = a.disowned.Swap(false)
	}
	if change {
		v := []byte("false")
		if a.disowned.Load() {
			v = []byte("true")
			a.log.Warn("till: the server refuses this till's key; offline decisions stop")
		}
		if err := a.led.putState(map[string][]byte{string(keyDisowned): v}); err != nil {
			a.log.Error("till: store key state", "err", err)
		}
	}
}

// contact notes that the server answered.
func (a *Agent) contact() {
	a.lastContact.Store(a.now().UnixNano())
	if !a.online.Swap(true) {
		a.log.Info("till: server reachable again")
		a.wake()
	}
}

// unreachable notes that the server did not answer.
func (a *Agent) unreachable(err error) {
	if a.online.Swap(false) {
		a.log.Warn("till: server unreachable; deciding offline", "err", err)
	}
}

// Refresh fetches the snapshot unless the agent's copy is current, and
// keeps it in the ledger.
func (a *Agent) Refresh(ctx context.Context) error {
	raw, etag, same, err := a.up.snapshot(ctx, *a.etag.Load())
	if errors.Is(err, errUnreachable) {
		a.unreachable(err)
		return err
	}
	a.contact()
	a.keyAnswer(client.StatusOf(err))
	if err != nil {
		return err
	}
	now := a.now()
	a.contact()
	state := map[string][]byte{string(keyContact): stamp(now), string(keySnapshotAt): stamp(now)}
	if same {
		if v := a.view.Load(); v != nil {
			nv := *v
			nv.fetched = now
			a.view.Store(&nv)
		}
	} else {
		v, err := newView(raw, now)
		if err != nil {
			return err
		}
		state[string(keySnapshot)], state[string(keyETag)] = raw, []byte(etag)
		a.view.Store(v)
		a.etag.Store(&etag)
	}
	return a.led.putState(state)
}

func stamp(t time.Time) []byte { return []byte(t.UTC().Format(time.RFC3339Nano)) }

// Sync sends the queue to the server in order, a batch at a time, and
// forgets each batch once the server has answered for it. The server
// remembers every operation by its idempotency key, so a batch sent again
// after a crash changes nothing.
func (a *Agent) Sync(ctx context.Context) error {
	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	limit := offline.DefaultMaxOperations
	if v := a.view.Load(); v != nil && v.snap.Sync.MaxOperations > 0 {
		limit = v.snap.Sync.MaxOperations
	}
	for {
		batch, err := a.led.head(limit)
		if err != nil || len(batch) == 0 {
			return err
		}
		ops := make([]client.SyncOperation, len(batch))
		for i, e := range batch {
			ops[i] = e.Op
		}
		results, err := a.up.sync(ctx, ops)
		if errors.Is(err, errUnreachable) {
			a.unreachable(err)
			return err
		}
		if err != nil {
			a.contact()
			a.keyAnswer(client.StatusOf(err))
			return err
		}
		a.contact()
		a.keyAnswer(http.StatusOK)
		byKey := make(map[string]client.SyncResult, len(results))
		for _, r := range results {
			byKey[r.IdempotencyKey] = r
		}
		done := batch[:0:0]
		for _, e := range batch {
			r, ok := byKey[e.Op.IdempotencyKey]
			if !ok {
				continue // not answered for: sent again next time
			}
			done = append(done, e)
			a.stats.synced(r.Status)
			if r.Status == client.SyncConflict || r.Status == client.SyncRefused {
				a.log.Warn("till: the server did not take an offline operation", "op", e.Op.Op, "status", r.Status, "reason", r.Reason)
			}
		}
		if len(done) == 0 {
			return errors.New("till: the server answered for none of the operations sent")
		}
		if err := a.led.forget(done); err != nil {
			return err
		}
		a.led.putState(map[string][]byte{string(keyContact): stamp(a.now())})
	}
}

// Health is the agent's state, as /healthz shows it.
type Health struct {
	Status         string     `json:"status"`
	Online         bool       `json:"online"`
	KeyRefused     bool       `json:"key_refused"` // the server answered 401 to the till's key: no offline decisions
	QueueLength    int        `json:"queue_length"`
	OldestQueuedAt *time.Time `json:"oldest_queued_at,omitempty"`
	OldestQueued   float64    `json:"oldest_queued_seconds"`
	SnapshotAge    float64    `json:"snapshot_age_seconds"` // -1: no snapshot
	LastContact    *time.Time `json:"last_contact,omitempty"`
	OfflineFor     float64    `json:"offline_seconds"`
}

// Health reports the agent's state.
func (a *Agent) Health() Health {
	now := a.now()
	h := Health{Status: "ok", Online: a.online.Load(), KeyRefused: a.disowned.Load(), SnapshotAge: -1}
	var oldest time.Time
	h.QueueLength, oldest = a.led.queueState()
	if !oldest.IsZero() {
		h.OldestQueuedAt = &oldest
		h.OldestQueued = now.Sub(oldest).Seconds()
	}
	if v := a.view.Load(); v != nil {
		h.SnapshotAge = now.Sub(v.fetched).Seconds()
	}
	if c := a.lastContact.Load(); c != 0 {
		t := time.Unix(0, c).UTC()
		h.LastContact = &t
		if !h.Online {
			h.OfflineFor = now.Sub(t).Seconds()
		}
	}
	return h
}
