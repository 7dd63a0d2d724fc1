package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stampseal/stampseal/till"
)

// TillTokenEnv may hold the till agent's register token instead of --token,
// which other users of the machine can read in the process list.
const TillTokenEnv = "STAMPSEAL_TILL_TOKEN"

func tillAgent(args []string, stderr io.Writer) error {
	fs := newFlags("till", "Run a till agent beside a point of sale: it forwards the register routes to --upstream and decides alone, from a snapshot and its own ledger, while the server cannot be reached.", stderr)
	upstream := fs.String("upstream", "", "the stampseal server's base URL, e.g. https://loyalty.example.com")
	token := fs.String("token", "", "the till's register API key (or $"+TillTokenEnv+")")
	data := fs.String("data", "./stampseal-till", "data directory of the agent's ledger (created if missing)")
	addr := fs.String("addr", "127.0.0.1:8181", "address the point of sale talks to")
	timeout := fs.Duration("timeout", 2*time.Second, "how long to wait for the server before deciding offline")
	refresh := fs.Duration("refresh", 10*time.Second, "how often to refresh the snapshot while online")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		*token = os.Getenv(TillTokenEnv)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	agent, err := till.Open(till.Config{Upstream: *upstream, Token: *token, DataDir: *data, Timeout: *timeout, Refresh: *refresh, Log: log})
	if err != nil {
		return err
	}
	defer agent.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: agent.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	runDone := make(chan struct{})
	go func() { defer close(runDone); agent.Run(ctx) }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("till agent serving", "addr", ln.Addr().String(), "upstream", *upstream, "data", *data)
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		serveErr = srv.Shutdown(shutdownCtx)
	}
	stop()
	<-runDone
	if serveErr == http.ErrServerClosed {
		serveErr = nil
	}
	return serveErr
}
