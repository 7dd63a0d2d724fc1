// Package benchcpu reports a benchmark's CPU time per operation: the
// process's user and system time, which the machine's other load inflates
// far less than wall time, so that figures taken on a shared machine can
// still be compared (stampseal bench prints the server's as "server CPU").
package benchcpu

import (
	"syscall"
	"testing"
	"time"
)

// Meter holds the process's CPU time when a measurement began.
type Meter struct{ start time.Duration }

// Start begins a measurement.
func Start(b testing.TB) Meter { return Meter{start: used(b)} }

// Report adds the metric cpu-µs/op: the CPU time since Start per
// operation of b.
func (m Meter) Report(b *testing.B) {
	b.ReportMetric(float64(used(b)-m.start)/float64(b.N)/1e3, "cpu-µs/op")
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
