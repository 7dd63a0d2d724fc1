package main

import (
	"log/slog"
	"os"
	"runtime"
)

// minServeProcs is the fewest Ps (runtime.GOMAXPROCS) serve runs with.
//
// A group commit blocks its thread in fdatasync for a millisecond or
// more. With one P (a server given one CPU: taskset, a one-CPU container)
// that thread keeps the P until sysmon takes it back, and meanwhile no
// request is read or verified: the writes of the next commit are not
// there when it starts, so a commit carries one or two of them, and the
// server spends its CPU on fsyncs. Measured with the server on one core
// and 64 clients: 1.2 to 2.1 writes per commit and 316 to 402 µs of CPU
// per redemption with one P; 9.7 to 26 writes and 170 µs with two. A
// second P costs nothing while the first runs: the kernel shares the
// core between the threads, and only one is runnable while the other
// syncs.
const minServeProcs = 2

// ensureServeProcs raises GOMAXPROCS to minServeProcs unless the operator
// set $GOMAXPROCS, and returns what it is then.
func ensureServeProcs(log *slog.Logger) int {
	n := runtime.GOMAXPROCS(0)
	if n >= minServeProcs || os.Getenv("GOMAXPROCS") != "" {
		return n
	}
	runtime.GOMAXPROCS(minServeProcs)
	log.Info("GOMAXPROCS raised so that requests are read while a commit syncs", "from", n, "to", minServeProcs)
	return minServeProcs
}
