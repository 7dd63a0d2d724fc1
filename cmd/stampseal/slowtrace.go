package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/trace"
	"sync/atomic"
	"time"
)

// slowTraceEvery bounds how often a slow request writes a trace: a stall
// makes many requests slow at once, and one trace shows them all.
const slowTraceEvery = time.Minute

// slowTracer keeps the last seconds of the Go execution trace in memory
// (runtime/trace's flight recorder) and writes them to a file when a
// request took longer than threshold: the trace shows what the process was
// doing while that request waited, which a profile taken later cannot.
type slowTracer struct {
	fr        *trace.FlightRecorder
	threshold time.Duration
	dir       string
	log       *slog.Logger
	last      atomic.Int64 // unix nanoseconds of the last trace written
	now       func() time.Time
}

// startSlowTracer starts the flight recorder; traces go to dir (created).
func startSlowTracer(threshold time.Duration, dir string, log *slog.Logger) (*slowTracer, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--trace-slow: %w", err)
	}
	fr := trace.NewFlightRecorder(trace.FlightRecorderConfig{MinAge: 5 * time.Second, MaxBytes: 32 << 20})
	if err := fr.Start(); err != nil {
		return nil, fmt.Errorf("--trace-slow: start the flight recorder: %w", err)
	}
	return &slowTracer{fr: fr, threshold: threshold, dir: dir, log: log, now: time.Now}, nil
}

// wrap times every request of h.
func (s *slowTracer) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		h.ServeHTTP(w, r)
		if took := s.now().Sub(start); took >= s.threshold {
			go s.snapshot(r.Method, took) // after the answer, not before it
		}
	})
}

// snapshot writes the recorder's window, at most once per slowTraceEvery.
// The log line names the method and the time, not the path: paths carry
// serials.
func (s *slowTracer) snapshot(method string, took time.Duration) {
	now := s.now()
	last := s.last.Load()
	if last != 0 && now.Sub(time.Unix(0, last)) < slowTraceEvery || !s.last.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	path := filepath.Join(s.dir, fmt.Sprintf("slow-%s.trace", now.UTC().Format("20060102T150405.000")))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, err = s.fr.WriteTo(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		s.log.Error("slow request: trace not written", "err", err)
		return
	}
	s.log.Warn("slow request: the last seconds of the execution trace written", "method", method, "took", took, "file", path,
		"read_with", "go tool trace "+path)
}

// stop ends the recorder.
func (s *slowTracer) stop() { s.fr.Stop() }
