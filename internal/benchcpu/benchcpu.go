// Package benchcpu reports a benchmark's CPU time per operation: the
// process's user and system time, which the machine's other load inflates
// far less than wall time, so that figures taken on a shared machine can
// still be compared (stampseal bench prints the server's as "server CPU").
package benchcpu

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// Meter holds the process's CPU time, and the clock, when a measurement
// began.
type Meter struct {
	start time.Duration
	began time.Time
}

// Start begins a measurement.
func Start(b testing.TB) Meter { return Meter{start: used(b), began: time.Now()} }

// Report adds the metrics cpu-µs/op, the CPU time since Start per
// operation of b, and cpu-used-%, the share of GOMAXPROCS CPUs that time
// filled since Start: below 100 with work to do, a CPU waited (for a
// commit's fdatasync, say, or for the scheduler).
func (m Meter) Report(b *testing.B) {
	cpu := used(b) - m.start
	b.ReportMetric(float64(cpu)/float64(b.N)/1e3, "cpu-µs/op")
	if wall := time.Since(m.began); wall > 0 {
		b.ReportMetric(100*float64(cpu)/float64(wall)/float64(runtime.GOMAXPROCS(0)), "cpu-used-%")
	}
}

// Used is the CPU time since Start.
func (m Meter) Used(b testing.TB) time.Duration { return used(b) - m.start }

// used is the user and system time this process has used.
func used(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
