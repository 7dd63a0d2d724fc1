package loadgen

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stampseal/stampseal/client"
	"github.com/stampseal/stampseal/metrics"
)

func TestCommitReportReadsTheServersHistogram(t *testing.T) {
	m := metrics.New()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	api, err := client.New(srv.URL, client.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
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
