package till_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/stampseal/stampseal/issuer"
)

// coupons mints n coupons through the issuer (no HTTP issuance limits).
func (s *server) coupons(b testing.TB, merchant string, n int) []string {
	var codes []string
	for len(codes) < n {
		batch, err := s.issuer.Coupons(issuer.CouponRequest{Merchant: merchant, Offer: "cake", ValidFor: 24 * time.Hour,
			Count: min(n-len(codes), issuer.MaxBatch)})
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range batch {
			codes = append(codes, c.Code)
		}
	}
	return codes
}

// serveDirect calls the agent's handler in-process: no network on the
// point of sale's side either.
func serveDirect(b testing.TB, h http.Handler, token, path string, body any) int {
	raw, _ := json.Marshal(body)
	req := httptest.NewRequest("POST", path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func percentile(d []time.Duration, p float64) time.Duration {
	slices.Sort(d)
	return d[min(int(float64(len(d))*p), len(d)-1)]
}

// BenchmarkOfflineRedeem is one offline redemption at the agent: decode,
// signature with the snapshot's keyset, key state, blocklist, window,
// policy, caps, and the durable write of the use, the queue entry and the
// answer. It reports the latency percentiles.
func BenchmarkOfflineRedeem(b *testing.B) {
	s := newServer(b)
	sh := s.shop("bakery-1")
	token := s.register(sh, "till 1")
	must(b, 200, s.url, "PUT", "/v1/merchants/"+sh.id+"/offline", sh.admin, map[string]any{"conflicts": "honour", "till_caps": map[string]any{"redemptions": 0}})
	net := newNetwork(b, s.url)
	a := newAgent(b, net.url(), token, nil)
	net.refuse()
	h := a.Handler()
	codes := s.coupons(b, sh.id, b.N+1)
	if st := serveDirect(b, h, token, "/v1/redeem", map[string]any{"code": codes[b.N], "register": "till-1"}); st != 200 {
		b.Fatalf("first offline redemption: %d", st) // also takes the agent offline
	}
	lat := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		st := serveDirect(b, h, token, "/v1/redeem", map[string]any{"code": codes[i], "register": "till-1"})
		lat[i] = time.Since(start)
		if st != 200 {
			b.Fatalf("offline redemption %d: %d", i, st)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(percentile(lat, 1).Microseconds())/1000, "max-ms")
}

// BenchmarkSync10k syncs a queue of 10,000 offline operations (5,000
// coupon redemptions, 5,000 stamps on 100 cards) to an in-process server
// and reports operations per second. The queue is filled offline before
// the timer starts.
func BenchmarkSync10k(b *testing.B) {
	const redeems, cards, stampsEach = 5000, 100, 50
	for range b.N {
		b.StopTimer()
		s := newServer(b)
		sh := s.shop("bakery-1")
		token := s.register(sh, "till 1")
		must(b, 200, s.url, "PUT", "/v1/merchants/"+sh.id+"/offline", sh.admin, map[string]any{"conflicts": "honour", "till_caps": map[string]any{"redemptions": 0}})
		s.program(sh, "coffee", nil)
		var cardCodes []string
		for range cards {
			_, code := s.card(sh, "coffee")
			cardCodes = append(cardCodes, code)
		}
		codes := s.coupons(b, sh.id, redeems)
		net := newNetwork(b, s.url)
		a := newAgent(b, net.url(), token, nil)
		net.refuse()
		h := a.Handler()
		for i, code := range codes {
			if st := serveDirect(b, h, token, "/v1/redeem", map[string]any{"code": code, "register": "till-1"}); st != 200 {
				b.Fatalf("offline redemption %d: %d", i, st)
			}
		}
		for i := range stampsEach {
			for c, code := range cardCodes {
				if st := serveDirect(b, h, token, "/v1/cards/stamp", map[string]any{"card_code": code, "register": "till-1", "idempotency_key": fmt.Sprint(c, "-", i)}); st != 200 {
					b.Fatalf("offline stamp: %d", st)
				}
			}
		}
		if n := a.Health().QueueLength; n != redeems+cards*stampsEach {
			b.Fatalf("queue: %d", n)
		}
		net.restore()
		b.StartTimer()
		start := time.Now()
		if err := a.Sync(context.Background()); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		b.StopTimer()
		if n := a.Health().QueueLength; n != 0 {
			b.Fatalf("queue after sync: %d", n)
		}
		b.ReportMetric(float64(redeems+cards*stampsEach)/took.Seconds(), "ops/s")
		b.ReportMetric(took.Seconds(), "s/10k-ops")
		b.StartTimer()
	}
}
