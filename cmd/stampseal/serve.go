package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/api"
	"github.com/stampseal/stampseal/barcode"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/metrics"
	"github.com/stampseal/stampseal/verify"
	"github.com/stampseal/stampseal/web"
)

// BootstrapEnv names the variable that may fix the first admin key.
const BootstrapEnv = "STAMPSEAL_BOOTSTRAP_TOKEN"

func serve(args []string, stderr io.Writer) error {
	fs := newFlags("serve", "Run the HTTP API on an embedded bbolt database in --data.", stderr)
	var df dataFlags
	df.register(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	maxInFlight := fs.Int("max-in-flight", 1024, "concurrent requests served; more are answered 503")
	issueRate := fs.Float64("issue-rate", api.DefaultIssueLimit.PerSecond, "credentials one API key may mint per second, sustained (more: 429 and an insider alert)")
	issueBurst := fs.Int("issue-burst", api.DefaultIssueLimit.Burst, "credentials one API key may mint at once above the sustained rate")
	cacheMB := fs.Int("barcode-cache-mb", 64, "memory for rendered barcodes, in MiB")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	if *issueRate <= 0 || *issueBurst < 1000 {
		return fmt.Errorf("--issue-rate must be positive and --issue-burst at least 1000 (one batch of coupons)")
	}
	if *maxInFlight < 1 {
		return fmt.Errorf("--max-in-flight %d: must be at least 1", *maxInFlight)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	m := metrics.New()
	var monitor *fraud.Monitor
	decisions := observerFunc(func(ev fraud.Event) {
		if ev.Op != fraud.OpIssue {
			m.Decision(string(ev.Op), ev.Result)
		}
		monitor.Observe(ev)
	})
	l, err := df.open(stderr, verify.WithObserver(decisions))
	if err != nil {
		return err
	}
	defer l.close()
	monitor = fraud.New(l.store, fraud.DefaultConfig(), fraud.WithMetrics(m), fraud.WithLogger(log))
	m.Register(metrics.NewStorageCollector(l.storageStats))

	if err := bootstrap(l.access, df.data, stderr, log); err != nil {
		return err
	}

	a := api.New(api.Deps{Access: l.access, Keys: l.ring, Issuer: l.issuer, Verifier: l.verifier, Store: l.store,
		Throttle: monitor, Observer: decisions, Review: monitor, Barcodes: barcode.NewCache(*cacheMB << 20), Short: l.short,
		Metrics: m, Log: log, MaxInFlight: *maxInFlight, IssueLimit: api.IssueLimit{PerSecond: *issueRate, Burst: *issueBurst}})
	web.New(web.Deps{Access: l.access, Fraud: monitor, Verifier: l.verifier, Log: log}).Mount(a.Router())
	srv := &http.Server{
		Handler:           a,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      60 * time.Second, // backups stream for a while
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	log.Info("stampseal serving", "addr", ln.Addr().String(), "data", df.data)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Error("shutdown", "err", err)
	}
	if err := monitor.Flush(); err != nil {
		log.Error("flush fraud alerts", "err", err)
	}
	if err := l.close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	log.Info("stopped")
	return nil
}

type observerFunc func(fraud.Event)

func (f observerFunc) Observe(ev fraud.Event) { f(ev) }

// bootstrap makes the first admin key on an empty data directory: the
// token from $STAMPSEAL_BOOTSTRAP_TOKEN, else a random one written to
// <data>/admin.token (0600). The token itself is never logged.
func bootstrap(acc *access.Service, data string, stderr io.Writer, log *slog.Logger) error {
	done, err := acc.Bootstrapped()
	if err != nil || done {
		return err
	}
	token := os.Getenv(BootstrapEnv)
	path := ""
	if token == "" {
		if token, err = access.NewToken(); err != nil {
			return err
		}
		path = filepath.Join(data, "admin.token")
		if err := writeSecretFile(path, token+"\n"); err != nil {
			return err
		}
	}
	if _, err := acc.Bootstrap(token); err != nil {
		return fmt.Errorf("bootstrap admin key: %w", err)
	}
	if path != "" {
		fmt.Fprintf(stderr, "Created the first admin API key; its token is in %s (mode 0600).\n", path)
		log.Info("bootstrap admin key created", "token_file", path)
	} else {
		log.Info("bootstrap admin key created from $" + BootstrapEnv)
	}
	return nil
}

func writeSecretFile(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.WriteString(content)
	return errors.Join(werr, f.Sync(), f.Close())
}

func (l *ledger) storageStats() metrics.StorageStats {
	s := l.store.Stats()
	c, w := l.store.GroupCommits()
	return metrics.StorageStats{Commits: c, Writes: w, ReadTx: s.TxN, OpenReadTx: s.OpenTxN, FreePages: s.FreePageN}
}
