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

func TestCommitScrapeOfAServerWithoutTheMetricFails(t *testing.T) {
	if _, err := parseCommits(strings.NewReader("# TYPE other counter\nother 1\n")); err == nil {
		t.Error("parseCommits found commit figures in an exposition without them")
	}
}
