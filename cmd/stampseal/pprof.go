package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"
)

// pprofAddr checks --pprof-addr: empty (off), or a loopback address. The
// profiles name every function and can stall the process for seconds (a
// 30 s CPU profile, a heap dump), so they are for an operator on the host,
// never for the network. ":6060" means 127.0.0.1:6060.
func pprofAddr(addr string) (string, error) {
	if addr == "" {
		return "", nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--pprof-addr %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "", fmt.Errorf("--pprof-addr %q: profiles are served on loopback only (127.0.0.1, ::1 or localhost)", addr)
	}
	return net.JoinHostPort(host, port), nil
}

// Sampling of the block and mutex profiles while --pprof-addr is on: one
// blocking event per blockEvery of time blocked, one contention in
// mutexEvery. Both cost little at these rates and are what shows a stall.
const (
	blockEvery = 10 * time.Microsecond
	mutexEvery = 20
)

// servePprof serves net/http/pprof's handlers under /debug/pprof/ on a
// listener of its own at addr (checked by pprofAddr), and turns on the
// block and mutex profiles. The write timeout leaves room for a 30-second
// profile or trace.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 5 * time.Minute, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	runtime.SetBlockProfileRate(int(blockEvery))
	runtime.SetMutexProfileFraction(mutexEvery)
	go srv.Serve(ln)
	log.Info("profiles serving", "addr", ln.Addr().String(), "path", "/debug/pprof/")
	return func() { srv.Close() }, nil
}
