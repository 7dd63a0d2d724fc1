package loadgen

import (
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stampseal/stampseal/client"
	"github.com/stampseal/stampseal/metrics"
)

func TestCommitReportReadsTheServersHistogram(t *testing.T) {
	m := metrics.New()
	api := metricsOf(t, m)
	before, err := scrapeCommits(api)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		writes int
		took   time.Duration
	}{{4, time.Millisecond}, {8, time.Millisecond}, {12, 3 * time.Millisecond}, {16, 12 * time.Millisecond}} {
		m.Commit(c.writes, c.took)
	}
	after, err := scrapeCommits(api)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	after.report(&out, before, 2*time.Second)
	want := "server group commits: 2/s, 10.0 writes each, mean 4.25ms; over 2 ms: 50.0%, over 5 ms: 25.00%, over 10 ms: 25.00%\n"
	if out.String() != want {
		t.Errorf("report:\n got %q\nwant %q", out.String(), want)
	}
}

func TestServerCPUPerRequest(t *testing.T) {
	parse := func(cpu string) commitStats {
		s, err := parseCommits(strings.NewReader("# TYPE " + commitMetric + " histogram\n" +
			commitMetric + "_bucket{le=\"+Inf\"} 0\n" + commitMetric + "_sum 0\n" + commitMetric + "_count 0\n" +
			"# TYPE " + batchMetric + " histogram\n" + batchMetric + "_bucket{le=\"+Inf\"} 0\n" + batchMetric + "_sum 0\n" + batchMetric + "_count 0\n" +
			"# TYPE " + cpuMetric + " counter\n" + cpuMetric + " " + cpu + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var out strings.Builder
	parse("13.5").reportCPU(&out, parse("12.25"), 5000)
	if want := "server CPU: 250µs per request (1.25s over 5000 requests)\n"; out.String() != want {
		t.Errorf("reportCPU:\n got %q\nwant %q", out.String(), want)
	}
}

func TestCommitScrapeOfAServerWithoutTheMetricFails(t *testing.T) {
	if _, err := parseCommits(strings.NewReader("# TYPE other counter\nother 1\n")); err == nil {
		t.Error("parseCommits found commit figures in an exposition without them")
	}
}

func TestServerWaitsForACPU(t *testing.T) {
	exposition := func(buckets string, count int) string {
		return "# TYPE " + commitMetric + " histogram\n" +
			commitMetric + "_bucket{le=\"+Inf\"} 0\n" + commitMetric + "_sum 0\n" + commitMetric + "_count 0\n" +
			"# TYPE " + batchMetric + " histogram\n" + batchMetric + "_bucket{le=\"+Inf\"} 0\n" + batchMetric + "_sum 0\n" + batchMetric + "_count 0\n" +
			"# TYPE " + waitMetric + " histogram\n" + buckets +
			waitMetric + "_bucket{le=\"+Inf\"} " + strconv.Itoa(count) + "\n" + waitMetric + "_sum 1\n" + waitMetric + "_count " + strconv.Itoa(count) + "\n"
	}
	parse := func(text string) commitStats {
		s, err := parseCommits(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	bucket := func(le string, n int) string {
		return waitMetric + "_bucket{le=\"" + le + "\"} " + strconv.Itoa(n) + "\n"
	}
	// The Go runtime's bounds: 10,000 waits, of which 100 over 0.9 ms, 10
	// over 10.5 ms and 1 over 117 ms.
	before := parse(exposition(bucket("8.2e-05", 50)+bucket("0.000917504", 60)+bucket("0.01048576", 70)+bucket("0.117440512", 80), 80))
	after := parse(exposition(bucket("8.2e-05", 8050)+bucket("0.000917504", 9960)+bucket("0.01048576", 10060)+bucket("0.117440512", 10079), 10080))
	var out strings.Builder
	after.reportWaits(&out, before)
	want := "server goroutines waiting for a CPU (10000 waits): over 918µs: 1.000%, over 10.49ms: 0.100%, over 117.44ms: 0.010%\n"
	if out.String() != want {
		t.Errorf("reportWaits:\n got %q\nwant %q", out.String(), want)
	}
}

func TestTheServersMetricsShowCPUWaits(t *testing.T) {
	s, err := scrapeCommits(metricsOf(t, metrics.New()))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.waits.buckets) == 0 {
		t.Fatalf("/metrics shows no %s", waitMetric)
	}
}

// metricsOf serves m's /metrics over HTTP and returns a client of it.
func metricsOf(t *testing.T, m *metrics.Metrics) *client.Client {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	api, err := client.New(srv.URL, client.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return api
}
