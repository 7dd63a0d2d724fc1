// Package service wires stampseal once: the ledger's domain services over
// one storage backend, the fraud monitor and the owner's figures watching
// every decision, metrics, the HTTP API and the review pages. serve,
// bench --self, the simulator and every test stack build the service here,
// so that what runs in a test is what runs in production.
package service

import (
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/api"
	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/barcode"
	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/metrics"
	"github.com/stampseal/stampseal/offline"
	"github.com/stampseal/stampseal/report"
	"github.com/stampseal/stampseal/shortcode"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
	"github.com/stampseal/stampseal/web"
)

// Options say what to build the service over. Store and Master are
// required; every other field has a default.
type Options struct {
	// Store is the opened ledger (bbolt, or a shared backend). The service
	// closes it on Close; when Open fails, it is left to the caller.
	Store storage.Backend
	// Master decrypts the merchants' signing keysets and the short-code
	// secret.
	Master tink.AEAD
	// Clock is every part's clock; nil: time.Now. The simulator runs the
	// service on a simulated one.
	Clock func() time.Time
	// Log receives the service's log; nil: discarded.
	Log *slog.Logger
	// Metrics is the registry the service reports to; nil: a new one.
	Metrics *metrics.Metrics
	// Fraud configures the fraud monitor; zero: fraud.DefaultConfig().
	Fraud fraud.Config
	// BarcodeCacheBytes is the memory for rendered barcodes; 0: 8 MiB.
	BarcodeCacheBytes int
	// MaxInFlight caps concurrent requests; 0: the API's default.
	MaxInFlight int
	// IssueLimit and RewardLimit bound how fast one API key mints and
	// earns rewards; zero: the API's defaults.
	IssueLimit, RewardLimit issuer.Limit
	// MetricsElsewhere leaves GET /metrics off the API (serve
	// --metrics-addr serves it on a listener of its own).
	MetricsElsewhere bool
	// Observer, when set, is told of every decision and issuance after the
	// service's own observers (a test's probe).
	Observer verify.Observer
	// Unthrottled: keys sending invalid codes are never slowed down (a
	// fuzzer, which would otherwise stop reaching the domain).
	Unthrottled bool

	throttle verify.Throttle             // set by Open: the fraud monitor
	journal  func([]verify.JournalEvent) // set by Open: the owner's figures
}

// Ledger is the domain over one store, without HTTP: what the CLI's
// commands on a stopped server need.
type Ledger struct {
	Store    storage.Backend
	Ring     *keys.Ring
	Short    *shortcode.Keyed
	Access   *access.Service
	Issuer   *issuer.Issuer
	Verifier *verify.Verifier
	// SealedCodes is how many codes an old database kept in clear and
	// OpenLedger sealed now; backups taken before still hold them.
	SealedCodes int
}

// Service is the whole of stampseal over one store.
type Service struct {
	*Ledger
	Monitor  *fraud.Monitor
	Report   *report.Book
	Metrics  *metrics.Metrics
	Audit    *audit.Trail
	Failures *access.FailureThrottle // failed sign-ins, shared by the API and the pages
	API      *api.API                // the API alone, its router carrying the pages
	UI       *web.UI
	Handler  http.Handler // what to serve: the API with the pages mounted
	log      *slog.Logger

	unfollow  func()        // ends the watches of a shared store (fleet.go)
	stop      chan struct{} // ends the background work
	done      chan struct{} // closed when it has ended
	closeOnce sync.Once
	closeErr  error
}

// OpenLedger builds the domain services over o.Store. Decisions and
// issuances go to o.Observer (nil: nobody). Only o.Store, o.Master,
// o.Clock, the limits and o.Observer are used.
func OpenLedger(o Options) (*Ledger, error) {
	if o.Store == nil || o.Master == nil {
		return nil, errors.New("service: a store and a master key are required")
	}
	l := &Ledger{Store: o.Store, Ring: keys.NewRing(o.Store, o.Master)}
	// Short codes are derived under a secret kept encrypted in the ledger.
	secret, err := l.Ring.Secret("short-codes")
	if err != nil {
		return nil, err
	}
	if l.Short, err = shortcode.NewKeyed(secret); err != nil {
		return nil, err
	}
	// Databases from before codes were sealed get them sealed now, once.
	if l.SealedCodes, err = credential.SealLegacyCodes(o.Store, l.Ring); err != nil {
		return nil, err
	}
	now := o.clock()
	l.Access = access.New(o.Store, l.Ring)
	iopts := []issuer.Option{issuer.WithShortCodes(l.Short), issuer.WithClock(now), issuer.WithLimits(o.IssueLimit, o.RewardLimit)}
	vopts := []verify.Option{verify.WithShortCodes(l.Short), verify.WithClock(now)}
	if o.Observer != nil {
		iopts = append(iopts, issuer.WithObserver(o.Observer))
		vopts = append(vopts, verify.WithObserver(o.Observer))
	}
	if o.throttle != nil {
		vopts = append(vopts, verify.WithThrottle(o.throttle))
	}
	if o.journal != nil {
		vopts = append(vopts, verify.WithJournalFeed(o.journal))
	}
	l.Issuer = issuer.New(o.Store, l.Ring, iopts...)
	vopts = append(vopts, verify.WithRewards(l.Issuer))
	if l.Verifier, err = verify.New(o.Store, l.Ring, vopts...); err != nil {
		return nil, err
	}
	return l, nil
}

// Open builds the whole service over o.Store and starts its background
// work (the owner's figures, forgetting old idempotency answers) until
// Close. The watchers come first (they need only the store), so the
// verifier is built knowing whom to tell.
func Open(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("service: a store is required")
	}
	now := o.clock()
	s := &Service{Metrics: o.Metrics, Audit: audit.New(o.Store), Failures: access.NewFailureThrottle(0, 0), log: o.Log}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.Metrics == nil {
		s.Metrics = metrics.New()
	}
	cfg := o.Fraud
	if cfg == (fraud.Config{}) {
		cfg = fraud.DefaultConfig()
	}
	s.Monitor = fraud.New(o.Store, cfg, fraud.WithMetrics(s.Metrics), fraud.WithLogger(s.log), fraud.WithClock(now))
	var err error
	if s.Report, err = report.Open(o.Store, report.WithClock(now)); err != nil {
		return nil, err
	}
	decisions := observers{decisionCounter{s.Metrics}, s.Monitor, s.Report}
	if o.Observer != nil {
		decisions = append(decisions, o.Observer)
	}
	lo := o
	lo.Observer = decisions
	lo.journal = s.Report.Committed
	if !o.Unthrottled {
		lo.throttle = s.Monitor
	}
	if s.Ledger, err = OpenLedger(lo); err != nil {
		return nil, err
	}
	if b, ok := o.Store.(*storage.Bolt); ok {
		s.Metrics.Register(metrics.NewStorageCollector(func() metrics.StorageStats { return boltStats(b) }))
		b.ObserveCommits(s.Metrics.Commit)
	}
	cache := o.BarcodeCacheBytes
	if cache <= 0 {
		cache = 8 << 20
	}
	s.API = api.New(api.Deps{Access: s.Access, Keys: s.Ring, Issuer: s.Issuer, Verifier: s.Verifier, Store: o.Store,
		Review: s.Monitor, Detect: s.Monitor, Barcodes: barcode.NewCache(cache), Short: s.Short,
		Metrics: s.Metrics, Log: s.log, MaxInFlight: o.MaxInFlight,
		Failures: s.Failures, MetricsElsewhere: o.MetricsElsewhere, Now: now,
		Offline: offline.NewService(o.Store, s.Ring, s.Verifier, s.Monitor, offline.WithClock(now)), Policies: offline.NewPolicies(o.Store),
		Report: s.Report})
	s.instrumentEtcd(o.Store)
	s.UI = web.New(web.Deps{Access: s.Access, Fraud: s.Monitor, Verifier: s.Verifier, Audit: s.Audit, Log: s.log, Failures: s.Failures,
		Report: s.Report, Programs: s.Issuer})
	s.UI.Mount(s.API.Router())
	s.API.AcceptSessions(s.UI.SignedIn)
	s.Handler = s.API
	if s.unfollow, err = s.follow(); err != nil {
		return nil, err
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() { defer close(s.done); s.background(s.stop) }()
	return s, nil
}

// Close ends the background work (the owner's figures catch up a last
// time), writes what the fraud monitor holds in memory and closes the
// store. Stop serving first. Calls after the first return its error.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		s.unfollow()
		close(s.stop)
		<-s.done
		if err := s.Monitor.Flush(); err != nil {
			s.log.Error("flush fraud alerts", "err", err) // logged: the store is closed all the same
		}
		s.closeErr = s.Store.Close()
	})
	return s.closeErr
}

func (o *Options) clock() func() time.Time {
	if o.Clock == nil {
		return time.Now
	}
	return o.Clock
}

// observers hands every event to each member in turn.
type observers []verify.Observer

func (os observers) Observe(ev fraud.Event) {
	for _, o := range os {
		o.Observe(ev)
	}
}

// decisionCounter counts decisions (not issuances) in the metrics.
type decisionCounter struct{ m *metrics.Metrics }

func (d decisionCounter) Observe(ev fraud.Event) {
	if ev.Op != fraud.OpIssue {
		d.m.Decision(string(ev.Op), string(ev.Result))
	}
}

func boltStats(b *storage.Bolt) metrics.StorageStats {
	st := b.Stats()
	c, w := b.GroupCommits()
	return metrics.StorageStats{Commits: c, Writes: w, ReadTx: st.TxN, OpenReadTx: st.OpenTxN, FreePages: st.FreePageN}
}
