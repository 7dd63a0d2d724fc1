package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/internal/benchcpu"
	"github.com/stampseal/stampseal/internal/service"
	"github.com/stampseal/stampseal/internal/testserver"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/storage"
)

// The benchmarks below drive the whole handler (svc.Handler, as serve
// mounts it: security headers, authentication, the in-flight budget,
// metrics, the router, decoding, the domain, the answer) without a socket,
// so that what they report is the server's own work per request beside
// verify's BenchmarkRedeemParallel. stampseal bench measures the socket.

// benchWriter is a ResponseWriter that keeps nothing but the status.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return len(b), nil
}
func (w *benchWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}

// benchBody is a reusable request body.
type benchBody struct{ strings.Reader }

func (*benchBody) Close() error { return nil }

type benchShop struct {
	svc   *service.Service
	token string
}

func newBenchShop(b *testing.B) benchShop {
	svc := testserver.Open(b, service.Options{})
	if _, err := svc.Access.CreateMerchant("bakery-1", "Corner Bakery"); err != nil {
		b.Fatal(err)
	}
	_, token, err := svc.Access.CreateKey("bakery-1", access.Register, "till 1")
	if err != nil {
		b.Fatal(err)
	}
	return benchShop{svc: svc, token: token}
}

func (s benchShop) mint(b *testing.B, n int) []string {
	codes := make([]string, 0, n)
	for n > 0 {
		batch := min(n, issuer.MaxBatch)
		got, err := s.svc.Issuer.Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "free coffee", ValidFor: time.Hour, Count: batch})
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range got {
			codes = append(codes, c.Code)
		}
		n -= batch
	}
	return codes
}

// request is a POST of body to path, as net/http's server hands it over.
func (s benchShop) request(path string, body *benchBody) *http.Request {
	r, _ := http.NewRequest("POST", path, body)
	r.RemoteAddr = "127.0.0.1:40000"
	r.RequestURI = path
	r.Header.Set("Authorization", "Bearer "+s.token)
	r.Header.Set("Content-Type", "application/json")
	return r
}

// serve sends raw as r's body through the whole handler, reusing w, and
// returns the status.
func (s benchShop) serve(w *benchWriter, r *http.Request, body *benchBody, raw string) int {
	body.Reset(raw)
	r.ContentLength = int64(len(raw))
	clear(w.h)
	w.status = 0
	s.svc.Handler.ServeHTTP(w, r)
	return w.status
}

// BenchmarkServeVerify is one read-only POST /v1/verify through the
// whole handler: no commit, so it is the HTTP layer and the signature.
func BenchmarkServeVerify(b *testing.B) {
	s := newBenchShop(b)
	code := s.mint(b, 1)[0]
	raw := fmt.Sprintf(`{"code": %q, "register": "till-1"}`, code)
	body := &benchBody{}
	r := s.request("/v1/verify", body)
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	cpu := benchcpu.Start(b)
	for b.Loop() {
		if status := s.serve(w, r, body, raw); status != 200 {
			b.Fatalf("status %d", status)
		}
	}
	cpu.Report(b)
}

// BenchmarkServeRedeemParallel is verify's BenchmarkRedeemParallel through
// the whole handler: 64 callers redeem distinct coupons, durably.
func BenchmarkServeRedeemParallel(b *testing.B) {
	s := newBenchShop(b)
	codes := make(chan string, b.N)
	for _, c := range s.mint(b, b.N) {
		codes <- c
	}
	close(codes)
	db := s.svc.Store.(*storage.Bolt)
	b.ReportAllocs()
	b.SetParallelism(32) // 64 goroutines on a 2-core machine
	commits0, writes0 := db.GroupCommits()
	b.ResetTimer()
	cpu := benchcpu.Start(b)
	b.RunParallel(func(pb *testing.PB) {
		body := &benchBody{}
		r := s.request("/v1/redeem", body)
		w := &benchWriter{h: http.Header{}}
		for pb.Next() {
			raw := `{"code":"` + <-codes + `","register":"till-1"}`
			if status := s.serve(w, r, body, raw); status != 200 {
				b.Errorf("status %d", status)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "redeems/s")
	cpu.Report(b)
	commits, writes := db.GroupCommits()
	b.ReportMetric(float64(writes-writes0)/float64(commits-commits0), "writes/commit")
}
