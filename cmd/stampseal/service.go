package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/api"
	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/barcode"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/metrics"
	"github.com/stampseal/stampseal/offline"
	"github.com/stampseal/stampseal/report"
	"github.com/stampseal/stampseal/verify"
	"github.com/stampseal/stampseal/web"
)

// service is stampseal wired over an opened ledger: the fraud monitor
// watching every decision, metrics, the API and the review page.
type service struct {
	ledger  *ledger
	monitor *fraud.Monitor
	report  *report.Book
	handler http.Handler
	metrics *metrics.Metrics
}

// serviceOptions are the knobs serve exposes as flags.
type serviceOptions struct {
	cacheBytes  int
	maxInFlight int
	issueLimit  api.IssueLimit
	rewardLimit api.IssueLimit // zero: api.DefaultRewardLimit
	// metricsElsewhere: serve --metrics-addr serves GET /metrics.
	metricsElsewhere bool
}

// openService opens the data directory and wires the service over it.
func openService(df *dataFlags, stderr io.Writer, log *slog.Logger, o serviceOptions) (*service, error) {
	m := metrics.New()
	var monitor *fraud.Monitor
	var book *report.Book
	decisions := observerFunc(func(ev fraud.Event) {
		if ev.Op != fraud.OpIssue {
			m.Decision(string(ev.Op), string(ev.Result))
		}
		monitor.Observe(ev)
		book.Observe(ev)
	})
	l, err := df.open(stderr, verify.WithObserver(decisions))
	if err != nil {
		return nil, err
	}
	monitor = fraud.New(l.store, fraud.DefaultConfig(), fraud.WithMetrics(m), fraud.WithLogger(log))
	if book, err = report.Open(l.store); err != nil {
		l.close()
		return nil, err
	}
	m.Register(metrics.NewStorageCollector(l.storageStats))
	l.store.ObserveCommits(m.Commit)
	failures := access.NewFailureThrottle(0, 0) // one for the API and the review page
	a := api.New(api.Deps{Access: l.access, Keys: l.ring, Issuer: l.issuer, Verifier: l.verifier, Store: l.store,
		Throttle: monitor, Observer: decisions, Review: monitor, Detect: monitor, Barcodes: barcode.NewCache(o.cacheBytes), Short: l.short,
		Metrics: m, Log: log, MaxInFlight: o.maxInFlight, IssueLimit: o.issueLimit, RewardLimit: o.rewardLimit, Failures: failures, MetricsElsewhere: o.metricsElsewhere,
		Offline: offline.NewService(l.store, l.ring, l.verifier, monitor), Policies: offline.NewPolicies(l.store), Report: book})
	ui := web.New(web.Deps{Access: l.access, Fraud: monitor, Verifier: l.verifier, Audit: audit.New(l.store), Log: log, Failures: failures,
		Report: book, Programs: l.issuer})
	ui.Mount(a.Router())
	a.AcceptSessions(ui.SignedIn)
	return &service{ledger: l, monitor: monitor, report: book, handler: a, metrics: m}, nil
}

// server is the HTTP server for the service: timeouts against slow
// clients, a header cap, errors into the log.
func (s *service) server(log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      60 * time.Second, // backups stream for a while
		IdleTimeout:       30 * time.Second, // an idle keep-alive costs memory; registers reconnect cheaply
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serveUntil serves on ln until ctx ends, then finishes requests in flight,
// writes pending alert counts and closes the database.
func (s *service) serveUntil(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	srv := s.server(log)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	sweepCtx, stopSweep := context.WithCancel(ctx)
	sweepDone := make(chan struct{})
	go func() { defer close(sweepDone); s.sweepIdempotency(sweepCtx, log) }()
	stopReport, reportDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(reportDone)
		s.report.Run(stopReport, time.Second, func(err error) { log.Error("owner's figures", "err", err) })
	}()

	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		log.Info("shutting down: finishing requests in flight")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			log.Error("shutdown", "err", err)
		}
	}
	stopSweep()
	<-sweepDone
	close(stopReport)
	<-reportDone
	if err := s.monitor.Flush(); err != nil {
		log.Error("flush fraud alerts", "err", err)
	}
	if err := s.ledger.close(); err != nil {
		return err
	}
	return serveErr
}

// sweepIdempotency forgets expired idempotency answers every hour until
// ctx ends, so that memory does not grow with every request.
func (s *service) sweepIdempotency(ctx context.Context, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n := s.ledger.verifier.ForgetIdempotency(); n > 0 {
			log.Info("expired idempotency answers forgotten", "count", n)
		}
	}
}
