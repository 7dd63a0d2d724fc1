// Command httpfloor is a bare net/http server for scripts/http-floor: what
// one HTTP exchange costs the server on this machine, apart from anything
// stampseal does. Each POST /v1/redeem reads its body, burns CPU in place
// of a redemption (-work, calibrated to a target CPU time per request) and
// answers a redemption-sized JSON body, as stampseal's hot path does.
//
// On SIGUSR1 it prints the CPU it used since the last signal, the requests
// answered, and the handlers' own CPU (measured on their threads), so that
// the rest is net/http's exchange, the runtime and the kernel's.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var answer = []byte(`{"redeemed":true,"redemption_id":"r-00000000000000a1-3f6c2d0b9e8a7f1c","serial":"3f6c2d0b9e8a7f1c5d4e3b2a19087f6e","uses_left":0,"redeemed_at":"2026-11-25T10:00:00.123456789Z","register":"till-1"}`)

func main() {
	addr := flag.String("addr", "127.0.0.1:18599", "address to listen on")
	work := flag.Duration("work", 0, "CPU each request burns in its handler, in place of a redemption")
	flag.Parse()
	rounds := calibrate(*work)
	var requests, handlerCPU atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/redeem", func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		handlerCPU.Add(int64(burnMeasured(rounds)))
		w.Header()["Content-Type"] = []string{"application/json"}
		w.Write(answer)
		requests.Add(1)
	})
	go func() { log.Fatal(http.ListenAndServe(*addr, mux)) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	start, n0, h0 := processCPU(), int64(0), int64(0)
	for range sig {
		now, n, h := processCPU(), requests.Load(), handlerCPU.Load()
		fmt.Printf("cpu %d requests %d handler %d\n", now-start, n-n0, h-h0)
		start, n0, h0 = now, n, h
	}
}

// calibrate returns how many hashing rounds take about d of CPU.
func calibrate(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	const probe = 20000
	t := threadCPU(func() { burn(probe) })
	return int(int64(probe) * int64(d) / int64(t))
}

// burnMeasured burns rounds on a thread of its own for the duration, and
// returns that thread's CPU time: what the handler itself cost.
func burnMeasured(rounds int) time.Duration {
	if rounds == 0 {
		return 0
	}
	return threadCPU(func() { burn(rounds) })
}

func threadCPU(f func()) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var a, b unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &a)
	f()
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &b)
	return time.Duration(b.Nano() - a.Nano())
}

var sink [32]byte

func burn(rounds int) {
	s := sink
	for range rounds {
		s = sha256.Sum256(s[:])
	}
	sink = s
}

func processCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
