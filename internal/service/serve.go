package service

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Server is the HTTP server for the service: timeouts against slow
// clients, a header cap, errors into the log.
func (s *Service) Server() *http.Server {
	return &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      60 * time.Second, // backups stream for a while
		IdleTimeout:       30 * time.Second, // an idle keep-alive costs memory; registers reconnect cheaply
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Serve serves on ln until ctx ends, then finishes requests in flight and
// closes the service.
func (s *Service) Serve(ctx context.Context, ln net.Listener) error {
	srv := s.Server()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
		s.log.Info("shutting down: finishing requests in flight")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutdownCtx); err != nil {
			s.log.Error("shutdown", "err", err)
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	return serveErr
}

// background keeps the owner's figures current and forgets expired
// idempotency answers (so that memory does not grow with every request)
// until stop is closed.
func (s *Service) background(stop <-chan struct{}) {
	var wg sync.WaitGroup
	wg.Go(func() {
		s.Report.Run(stop, time.Second, func(err error) { s.log.Error("owner's figures", "err", err) })
	})
	wg.Go(func() {
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if n := s.Verifier.ForgetIdempotency(); n > 0 {
				s.log.Info("expired idempotency answers forgotten", "count", n)
			}
		}
	})
	wg.Wait()
}
