package storage

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/stampseal/stampseal/internal/benchcpu"
)

// BenchmarkCommitLatency commits one journal-sized write at a time and
// reports the latency percentiles of a commit, the floor under the latency
// of every redemption, set by the disk's fsync (bbolt syncs twice per
// commit), and its CPU time, mostly the kernel's. Run it on an idle
// machine and beside a CPU load to see how much of the tail is the disk
// and how much the wait for a CPU.
func BenchmarkCommitLatency(b *testing.B) {
	s, _ := openTemp(b)
	value := make([]byte, 120) // about one redemption event
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	cpu := benchcpu.Start(b)
	for i := range b.N {
		start := time.Now()
		err := s.Update(func(tx Tx) error {
			return tx.Put(History, binary.BigEndian.AppendUint64(nil, uint64(i)), value)
		})
		if err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	cpu.Report(b)
	b.StopTimer()
	slices.Sort(took)
	for _, q := range []struct {
		name string
		at   float64
	}{{"p50-µs", .5}, {"p99-µs", .99}, {"p999-µs", .999}} {
		b.ReportMetric(float64(took[int(q.at*float64(len(took)-1))].Microseconds()), q.name)
	}
}
