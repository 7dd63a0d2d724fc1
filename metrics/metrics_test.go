package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestExpositionHasBoundedLabelsOnly(t *testing.T) {
	m := New()
	m.Issued("coupon", 3)
	m.Decision("redeem", "already_redeemed")
	m.HTTPRequest("/v1/credentials/{serial}", "GET", 200, 3*time.Millisecond)
	// The second of each goes through the resolved series.
	m.Decision("redeem", "already_redeemed")
	m.HTTPRequest("/v1/credentials/{serial}", "GET", 200, 3*time.Millisecond)
	m.HTTPRequest("/v1/credentials/{serial}", "GET", 404, 3*time.Millisecond)
	m.AlertRaised("replay")
	m.OpenAlerts(2)
	m.Commit(12, 3*time.Millisecond)
	m.Register(NewStorageCollector(func() StorageStats { return StorageStats{Commits: 5, Writes: 40} }))
	rr := httptest.NewRecorder()
	m.Handler().ServeHTTP(rr, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rr.Body)
	for _, want := range []string{
		`stampseal_issued_credentials_total{kind="coupon"} 3`,
		`stampseal_decisions_total{op="redeem",result="already_redeemed"} 2`,
		`stampseal_http_request_duration_seconds_count{code="200",method="GET",route="/v1/credentials/{serial}"} 2`,
		`stampseal_http_request_duration_seconds_count{code="404",method="GET",route="/v1/credentials/{serial}"} 1`,
		`stampseal_fraud_alerts_total{kind="replay"} 1`,
		`stampseal_fraud_open_alerts 2`,
		`stampseal_storage_commits_total 5`,
		`stampseal_storage_writes_total 40`,
		`stampseal_storage_commit_duration_seconds_bucket{le="0.002"} 0`,
		`stampseal_storage_commit_duration_seconds_bucket{le="0.003"} 1`,
		`stampseal_storage_commit_batch_writes_bucket{le="8"} 0`,
		`stampseal_storage_commit_batch_writes_bucket{le="16"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
}

// BenchmarkHTTPRequest is what every request pays for its latency series.
func BenchmarkHTTPRequest(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.HTTPRequest("/v1/redeem", "POST", 200, time.Millisecond)
		m.Decision("redeem", "ok")
	}
}
