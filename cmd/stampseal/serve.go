package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/metrics"
)

// BootstrapEnv names the variable that may fix the first admin key.
const BootstrapEnv = "STAMPSEAL_BOOTSTRAP_TOKEN"

func serve(args []string, stderr io.Writer) error {
	fs := newFlags("serve", "Run the HTTP API on an embedded bbolt database in --data, or with --etcd-endpoints on an etcd cluster that several nodes share.", stderr)
	var df dataFlags
	df.register(fs)
	var ef etcdFlags
	ef.register(fs, "etcd-endpoints")
	ef.registerNode(fs)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	maxInFlight := fs.Int("max-in-flight", 1024, "concurrent requests served; more are answered 503")
	issueRate := fs.Float64("issue-rate", issuer.DefaultLimit.PerSecond, "credentials one API key may mint per second, sustained (more: 429 and an insider alert)")
	issueBurst := fs.Int("issue-burst", issuer.DefaultLimit.Burst, "credentials one API key may mint at once above the sustained rate")
	rewardRate := fs.Float64("reward-rate", issuer.DefaultRewardLimit.PerSecond, "reward coupons one register key may earn per second, sustained (more: stamps answer 429 and an insider alert)")
	rewardBurst := fs.Int("reward-burst", issuer.DefaultRewardLimit.Burst, "reward coupons one register key may earn at once above the sustained rate")
	cacheMB := fs.Int("barcode-cache-mb", 64, "memory for rendered barcodes, in MiB")
	metricsAddr := fs.String("metrics-addr", "", "serve GET /metrics on this address instead of --addr (\":9090\" listens on loopback); empty: on --addr, unauthenticated")
	maxConnsPerAddr := fs.Int("max-conns-per-addr", 256, "open connections one client address may hold; more are closed at once (0: no cap)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	traceSlow := fs.Duration("trace-slow", 0, "keep the last seconds of the execution trace in memory and write them to <data>/traces when a request takes this long or longer, at most once a minute (0: off)")
	pprofFlag := fs.String("pprof-addr", "", "serve /debug/pprof/ (CPU, heap, block, mutex profiles and traces) on this loopback address (\":6060\" is 127.0.0.1:6060); empty: off")
	var tf tlsFlags
	tf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	tlsConfig, err := tf.config(*addr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	if *issueRate <= 0 || *issueBurst < 1000 {
		return fmt.Errorf("--issue-rate must be positive and --issue-burst at least 1000 (one batch of coupons)")
	}
	if *rewardRate <= 0 || *rewardBurst < 1 {
		return fmt.Errorf("--reward-rate must be positive and --reward-burst at least 1")
	}
	if *maxInFlight < 1 {
		return fmt.Errorf("--max-in-flight %d: must be at least 1", *maxInFlight)
	}
	pprofAt, err := pprofAddr(*pprofFlag)
	if err != nil {
		return err
	}
	if *traceSlow < 0 {
		return fmt.Errorf("--trace-slow %v: must not be negative", *traceSlow)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	ensureServeProcs(log) // procs.go

	svc, err := openService(&df, stderr, log, serviceOptions{cacheBytes: *cacheMB << 20, maxInFlight: *maxInFlight,
		issueLimit: issuer.Limit{PerSecond: *issueRate, Burst: *issueBurst}, rewardLimit: issuer.Limit{PerSecond: *rewardRate, Burst: *rewardBurst},
		metricsElsewhere: *metricsAddr != "", etcd: ef})
	if err != nil {
		return err
	}
	if err := bootstrap(svc.Access, df.data, stderr, log); err != nil {
		svc.Close()
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		svc.Close()
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	ln = limitPerAddr(ln, *maxConnsPerAddr)
	if *metricsAddr != "" {
		stopMetrics, err := serveMetrics(*metricsAddr, svc.Metrics, log)
		if err != nil {
			ln.Close()
			svc.Close()
			return err
		}
		defer stopMetrics()
	}
	if pprofAt != "" {
		stopPprof, err := servePprof(pprofAt, log)
		if err != nil {
			ln.Close()
			svc.Close()
			return err
		}
		defer stopPprof()
	}
	if *traceSlow > 0 {
		tracer, err := startSlowTracer(*traceSlow, filepath.Join(df.data, "traces"), log)
		if err != nil {
			ln.Close()
			svc.Close()
			return err
		}
		defer tracer.stop()
		svc.Handler = tracer.wrap(svc.Handler)
	}
	scheme := "http"
	if tlsConfig != nil {
		ln, scheme = tls.NewListener(ln, tlsConfig), "https"
	}
	log.Info("stampseal serving", "addr", ln.Addr().String(), "scheme", scheme, "data", df.data)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := svc.Serve(ctx, ln); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// bootstrap makes the first admin key on an empty data directory: the
// token from $STAMPSEAL_BOOTSTRAP_TOKEN, else a random one written to
// <data>/admin.token (0600). The token itself is never logged.
func bootstrap(acc *access.Service, data string, stderr io.Writer, log *slog.Logger) error {
	done, err := acc.Bootstrapped()
	if err != nil || done {
		return err
	}
	token := os.Getenv(BootstrapEnv)
	if token != "" && len(token) < access.MinBootstrapTokenLen {
		return fmt.Errorf("$%s is %d characters: refusing a bootstrap admin token under %d (use a long random one)", BootstrapEnv, len(token), access.MinBootstrapTokenLen)
	}
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
		if len(token) < access.MinTokenLen {
			fmt.Fprintf(stderr, "WARNING: WEAK ADMIN KEY: $%s is %d characters, under %d: it can be guessed. Use a long random token (e.g. `openssl rand -base64 32`) in production.\n", BootstrapEnv, len(token), access.MinTokenLen)
			log.Warn("weak bootstrap admin token", "length", len(token), "recommended", access.MinTokenLen)
		}
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

// serveMetrics serves GET /metrics on a listener of its own, loopback
// when addr names no host, so that the volumes of every merchant need not
// be open on the API's address.
func serveMetrics(addr string, m *metrics.Metrics, log *slog.Logger) (stop func(), err error) {
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go srv.Serve(ln)
	log.Info("metrics serving", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}
