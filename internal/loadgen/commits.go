package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/stampseal/stampseal/client"
)

// commitStats is the server's group-commit histogram as /metrics shows it.
// The bench reads it before and after the run: a redemption cannot be
// faster than its commit, so the commit tail is the floor under the
// redemption tail, and it is set by the disk's fsync.
type commitStats struct {
	count, writes uint64
	sum           float64
	buckets       map[float64]uint64 // upper bound in seconds: cumulative count
	cpu           float64            // the server process's CPU seconds; 0 if not shown
	waits         histogram          // how long the server's goroutines waited for a CPU; empty if not shown
}

// histogram is a Prometheus histogram: its count and cumulative buckets.
type histogram struct {
	count   uint64
	buckets map[float64]uint64 // upper bound in seconds: cumulative count
}

const commitMetric = "stampseal_storage_commit_duration_seconds"
const batchMetric = "stampseal_storage_commit_batch_writes"
const cpuMetric = "process_cpu_seconds_total"
const waitMetric = "go_sched_latencies_seconds"

// scrapeCommits reads the commit histograms from the server's /metrics.
func scrapeCommits(api *client.Client) (commitStats, error) {
	text, err := api.Metrics(context.Background())
	if err != nil {
		return commitStats{}, err
	}
	return parseCommits(bytes.NewReader(text))
}

func parseCommits(r io.Reader) (commitStats, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return commitStats{}, err
	}
	dur, batch := fams[commitMetric], fams[batchMetric]
	if dur == nil || batch == nil || len(dur.Metric) != 1 || len(batch.Metric) != 1 {
		return commitStats{}, fmt.Errorf("/metrics has no %s", commitMetric)
	}
	h := dur.Metric[0].GetHistogram()
	s := commitStats{count: h.GetSampleCount(), sum: h.GetSampleSum(), buckets: map[float64]uint64{},
		writes: uint64(batch.Metric[0].GetHistogram().GetSampleSum())}
	for _, b := range h.Bucket {
		s.buckets[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	if cpu := fams[cpuMetric]; cpu != nil && len(cpu.Metric) == 1 {
		s.cpu = cpu.Metric[0].GetCounter().GetValue()
	}
	if w := fams[waitMetric]; w != nil && len(w.Metric) == 1 {
		h := w.Metric[0].GetHistogram()
		s.waits = histogram{count: h.GetSampleCount(), buckets: map[float64]uint64{}}
		for _, b := range h.Bucket {
			s.waits.buckets[b.GetUpperBound()] = b.GetCumulativeCount()
		}
	}
	return s, nil
}

// report prints what the server's commits did between before and s.
func (s commitStats) report(w io.Writer, before commitStats, elapsed time.Duration) {
	n := s.count - before.count
	if n == 0 {
		return
	}
	over := func(bound float64) float64 {
		return 100 * float64(n-(s.buckets[bound]-before.buckets[bound])) / float64(n)
	}
	fmt.Fprintf(w, "server group commits: %.0f/s, %.1f writes each, mean %s; over 2 ms: %.1f%%, over 5 ms: %.2f%%, over 10 ms: %.2f%%\n",
		float64(n)/elapsed.Seconds(), float64(s.writes-before.writes)/float64(n),
		fmtDur(time.Duration((s.sum-before.sum)/float64(n)*float64(time.Second))), over(.002), over(.005), over(.01))
}

// reportCPU prints the server's CPU time per request between before and s:
// what one request costs the server, whatever else runs on the machine
// (the process's own user and system time, in clock ticks of 10 ms, so
// it wants some thousands of requests). With --self the generator is in
// that process too.
func (s commitStats) reportCPU(w io.Writer, before commitStats, requests int) {
	if s.cpu == 0 || requests == 0 {
		return
	}
	fmt.Fprintf(w, "server CPU: %s per request (%.2fs over %d requests)\n",
		fmtDur(time.Duration((s.cpu-before.cpu)/float64(requests)*float64(time.Second))), s.cpu-before.cpu, requests)
}

// reportWaits prints how often the server's goroutines waited long for a
// CPU between before and s: runnable, not running. Long waits are the
// server's own share of a request's tail (a busy core, background bursts,
// the garbage collector), whatever the disk does. The Go runtime's buckets
// are coarse, so the shares are given at its bounds of about 1, 10 and
// 100 ms.
func (s commitStats) reportWaits(w io.Writer, before commitStats) {
	n := s.waits.count - before.waits.count
	if n == 0 {
		return
	}
	bounds := make([]float64, 0, len(s.waits.buckets))
	for b := range s.waits.buckets {
		if b >= 0.0005 && b < 1 {
			bounds = append(bounds, b)
		}
	}
	slices.Sort(bounds)
	fmt.Fprintf(w, "server goroutines waiting for a CPU (%d waits):", n)
	for i, b := range bounds {
		sep := ","
		if i == 0 {
			sep = ""
		}
		over := n - (s.waits.buckets[b] - before.waits.buckets[b])
		fmt.Fprintf(w, "%s over %s: %.3f%%", sep, fmtDur(time.Duration(b*float64(time.Second))), 100*float64(over)/float64(n))
	}
	fmt.Fprintln(w)
}
