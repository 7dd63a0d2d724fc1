package loadgen

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report merges the clients' samples and prints the table of throughput
// and latency per operation, the generator's lateness and the server's
// commit tail.
func (c *Config) report(stdout io.Writer, mode string, elapsed time.Duration, names []string, recs []recorder,
	exhausted bool, firstErr any, b *benchClient, commitsBefore commitStats, commitsErr error) {
	per := make([][]time.Duration, len(names))
	errs := make([]int, len(names))
	counts := make([]int, len(names))
	var all, lateness []time.Duration
	for _, r := range recs {
		for _, s := range r.samples {
			lateness = append(lateness, s.late)
			counts[s.op]++
			if s.err {
				errs[s.op]++
				continue
			}
			per[s.op] = append(per[s.op], s.d)
			all = append(all, s.d)
		}
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "op\tcount\terrors\tok/s\tp50\tp99\tp999\tmax\t\n")
	row := func(name string, count, nerr int, d []time.Duration) {
		slices.Sort(d)
		fmt.Fprintf(w, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t\n", name, count, nerr, float64(len(d))/elapsed.Seconds(),
			fmtDur(quantile(d, 0.50)), fmtDur(quantile(d, 0.99)), fmtDur(quantile(d, 0.999)), fmtDur(quantile(d, 1)))
	}
	totalErr, total := 0, 0
	for i, name := range names {
		row(name, counts[i], errs[i], per[i])
		totalErr += errs[i]
		total += counts[i]
	}
	row("all", total, totalErr, all)
	w.Flush()
	fmt.Fprintf(stdout, "%s, %v; latency of successful requests, exact percentiles of every recorded duration", mode, elapsed.Round(time.Millisecond))
	if c.Rate > 0 {
		fmt.Fprintf(stdout, ", from each request's scheduled start")
	}
	fmt.Fprintln(stdout)
	if exhausted {
		fmt.Fprintf(stdout, "NOTE: the run stopped early because the pre-minted coupons ran out; pass a larger --coupons\n")
	}
	if c.Rate > 0 {
		slices.Sort(lateness)
		fmt.Fprintf(stdout, "sent late by the generator (included above): p50 %s, p99 %s\n", fmtDur(quantile(lateness, 0.5)), fmtDur(quantile(lateness, 0.99)))
	}
	if commitsErr == nil {
		if after, err := scrapeCommits(b.api); err == nil {
			after.report(stdout, commitsBefore, elapsed)
			after.reportCPU(stdout, commitsBefore, total)
			after.reportWaits(stdout, commitsBefore)
		}
	}
	if firstErr != nil {
		fmt.Fprintf(stdout, "first error: %s\n", firstErr)
	}
}

// quantile is the exact q-quantile (nearest rank) of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func mixString(m map[string]int) string {
	var parts []string
	for _, name := range Ops {
		if m[name] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", name, m[name]))
		}
	}
	return strings.Join(parts, ",")
}
