package storage

import (
	"crypto/sha256"
	"encoding/binary"
	"runtime"
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

// BenchmarkCPUBesideCommits measures what commits cost the goroutines
// that do CPU work beside them, beyond the commits' own CPU time: while
// the committer waits in fdatasync its P stays with it, until the
// runtime's sysmon takes it back, which it does late when it has had
// little to do. 64 goroutines hash, stepping aside every 64 hashes (as
// requests block on their I/O); in "beside commits" one more commits one
// write every 500 µs (about a group commit's pace under load). Compare
// the hashes/s and the share of GOMAXPROCS CPUs the process used.
func BenchmarkCPUBesideCommits(b *testing.B) {
	for _, commits := range []bool{false, true} {
		name := "alone"
		if commits {
			name = "beside commits"
		}
		b.Run(name, func(b *testing.B) {
			s, _ := openTemp(b)
			stop := make(chan struct{})
			done := make(chan struct{})
			if commits {
				go func() {
					defer close(done)
					for i := uint64(0); ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						if err := s.Update(func(tx Tx) error {
							return tx.Put(History, binary.BigEndian.AppendUint64(nil, i), make([]byte, 120))
						}); err != nil {
							b.Error(err)
							return
						}
						time.Sleep(500 * time.Microsecond)
					}
				}()
			} else {
				close(done)
			}
			commits0, _ := s.GroupCommits()
			cpu := benchcpu.Start(b)
			b.SetParallelism(64 / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				h := sha256.Sum256(nil)
				for i := 0; pb.Next(); i++ {
					h = sha256.Sum256(h[:])
					if i%64 == 0 {
						runtime.Gosched()
					}
				}
			})
			elapsed := b.Elapsed()
			close(stop)
			<-done
			n, _ := s.GroupCommits()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "hashes/s")
			if commits {
				b.ReportMetric(float64(n-commits0)/elapsed.Seconds(), "commits/s")
			}
			b.ReportMetric(100*cpu.Used(b).Seconds()/elapsed.Seconds()/float64(runtime.GOMAXPROCS(0)), "%cpu")
		})
	}
}
