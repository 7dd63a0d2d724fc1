package verify_test

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/internal/benchcpu"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/verify"
)

// BenchmarkBareSignature is the reference for BenchmarkVerify: only the
// Tink signature check of the same payload with the same key.
func BenchmarkBareSignature(b *testing.B) {
	w := newWorld(b, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour})
	code, _ := credential.Parse(c.Code)
	b.ReportAllocs()
	cpu := benchcpu.Start(b)
	for b.Loop() {
		if err := w.ring.Verify("bakery-1", code.KeyID, code.Signature, code.Signed); err != nil {
			b.Fatal(err)
		}
	}
	cpu.Report(b)
}

// BenchmarkBareSignatureParallel is the signature-bound limit measured
// rather than computed: bare Ed25519 verifications on every CPU at once
// (GOMAXPROCS goroutines), the ceiling BenchmarkRedeemParallel is judged
// against. On two real cores it is twice BenchmarkBareSignature's rate; on
// two hyperthreads of one core it is less.
func BenchmarkBareSignatureParallel(b *testing.B) {
	w := newWorld(b, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour})
	code, _ := credential.Parse(c.Code)
	cpu := benchcpu.Start(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := w.ring.Verify("bakery-1", code.KeyID, code.Signature, code.Signed); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
	cpu.Report(b)
}

// BenchmarkVerify is the whole read-only path: decode, key lookup,
// signature, ledger read, event.
func BenchmarkVerify(b *testing.B) {
	w := newWorld(b, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour})
	req := verify.Request{Merchant: "bakery-1", Code: c.Code, Register: "till-1"}
	b.ReportAllocs()
	for b.Loop() {
		if res, err := w.v.Verify(req); err != nil || !res.Valid {
			b.Fatal(res, err)
		}
	}
}

func BenchmarkIssueCoupon(b *testing.B) {
	w := newWorld(b, "bakery-1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.iss.Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "free coffee", ValidFor: time.Hour}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func mintCodes(b *testing.B, w *world, n int) chan string {
	codes := make(chan string, n)
	for n > 0 {
		batch := min(n, issuer.MaxBatch)
		got, err := w.iss.Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "free coffee", ValidFor: time.Hour, Count: batch})
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range got {
			codes <- c.Code
		}
		n -= batch
	}
	close(codes)
	return codes
}

// BenchmarkRedeemSerial is the reference for BenchmarkRedeemParallel: one
// durable write transaction per redemption, one after the other.
func BenchmarkRedeemSerial(b *testing.B) {
	w := newWorld(b, "bakery-1")
	codes := mintCodes(b, w, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for code := range codes {
		if _, err := w.redeem(code, "till-1", ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "redeems/s")
}

// BenchmarkRedeemParallel: 64 callers redeem distinct coupons, signature
// verification included, every commit fsynced, group-committed.
func BenchmarkRedeemParallel(b *testing.B) {
	w := newWorld(b, "bakery-1")
	codes := mintCodes(b, w, b.N)
	b.ReportAllocs()
	b.SetParallelism(32) // 64 goroutines on this 2-core machine
	commits0, writes0 := w.db.GroupCommits()
	b.ResetTimer()
	cpu := benchcpu.Start(b)
	var n int
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := w.redeem(<-codes, fmt.Sprint("till-", n%20), ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "redeems/s")
	cpu.Report(b)
	commits, writes := w.db.GroupCommits()
	b.ReportMetric(float64(writes-writes0)/float64(commits-commits0), "writes/commit")
}

// BenchmarkStampParallel: 64 callers stamp 1,000 cards (a busy chain's
// morning), durable, signature verification included; every tenth stamp
// of a card mints and signs a reward coupon in the same transaction.
func BenchmarkStampParallel(b *testing.B) {
	w := newWorld(b, "bakery-1")
	if _, err := w.iss.CreateProgram(credential.Program{Merchant: "bakery-1", ID: "coffee", StampsRequired: 10,
		Reward: "free coffee", RewardValidFor: 720 * time.Hour}); err != nil {
		b.Fatal(err)
	}
	cards := make([]string, 1000)
	for i := range cards {
		c, err := w.iss.Card("bakery-1", "coffee")
		if err != nil {
			b.Fatal(err)
		}
		cards[i] = c.Code
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			req := verify.StampRequest{Request: verify.Request{Merchant: "bakery-1", Code: cards[i%int64(len(cards))], Register: "till-1"}, Stamps: 1}
			if _, err := w.v.Stamp(req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "stamps/s")
}

// BenchmarkListPage lists a page of 100 of a merchant's 20,000 coupons:
// the first page, and the page after a cursor near the end, which costs
// about as much when a page starts at its cursor.
func BenchmarkListPage(b *testing.B) {
	w := newWorld(b, "bakery-1")
	listPages(b, w.iss, w.v, 20000, issuer.MaxBatch, nil)
}

// listPages mints total coupons of bakery-1, batch at a time, then
// benchmarks listing 100 of them from the start and from a cursor with
// all but 200 before it. requests, when set, counts the backend's reads.
func listPages(b *testing.B, iss *issuer.Issuer, v *verify.Verifier, total, batch int, requests func() uint64) {
	var serials []string
	for len(serials) < total {
		got, err := iss.Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "free coffee", ValidFor: time.Hour, Count: batch})
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range got {
			serials = append(serials, c.Serial)
		}
	}
	slices.Sort(serials)
	deep := len(serials) - 200
	for _, bc := range []struct{ name, after string }{{"first", ""}, {fmt.Sprintf("after %d", deep), serials[deep-1]}} {
		b.Run(bc.name, func(b *testing.B) {
			var reads0 uint64
			if requests != nil {
				reads0 = requests()
			}
			for b.Loop() {
				page, _, err := v.List(verify.ListQuery{Merchant: "bakery-1", After: bc.after, Limit: 100})
				if err != nil || len(page) != 100 {
					b.Fatal(len(page), err)
				}
			}
			if requests != nil {
				b.ReportMetric(float64(requests()-reads0)/float64(b.N), "reads/op")
			}
		})
	}
}
