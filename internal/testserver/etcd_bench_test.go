package testserver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stampseal/stampseal/client"
	"github.com/stampseal/stampseal/internal/benchcpu"
	"github.com/stampseal/stampseal/internal/etcdtest"
	"github.com/stampseal/stampseal/internal/service"
	"github.com/stampseal/stampseal/internal/testserver"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage/etcdstore"
)

// benchWorkers is how many clients send at once, in every case below.
const benchWorkers = 32

// BenchmarkFleetOnEtcd measures durable redemptions over HTTP on 1, 2 and
// 3 stampseal nodes sharing one 3-member etcd cluster (fsync on), beside a
// raw etcd client loop of single-key transactions (compare a key is new,
// put it: what one redemption's mark costs at the least) on the same
// cluster. Each case reports its rate, its p99 latency and the CPU time
// the whole process spent per operation. Run it briefly:
//
//	go test -run '^$' -bench FleetOnEtcd -benchtime 2000x ./internal/testserver/
func BenchmarkFleetOnEtcd(b *testing.B) {
	cluster, err := etcdtest.Start(b.TempDir(), etcdtest.Options{Durable: true, MaxTxnOps: 10000})
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	b.Run("raw etcd txn", func(b *testing.B) {
		cli := cluster.Client(b)
		prefix := cluster.Prefix(b)
		var next atomic.Int64
		measure(b, func(int) error {
			k := prefix + "/" + strconv.FormatInt(next.Add(1), 10)
			resp, err := cli.Txn(context.Background()).If(clientv3.Compare(clientv3.ModRevision(k), "=", 0)).
				Then(clientv3.OpPut(k, "used")).Commit()
			if err == nil && !resp.Succeeded {
				err = fmt.Errorf("%s was there", k)
			}
			return err
		})
	})
	for nodes := 1; nodes <= 3; nodes++ {
		b.Run(fmt.Sprintf("stampseal nodes=%d", nodes), func(b *testing.B) {
			tills, codes, stores := fleetWithCoupons(b, cluster, nodes, b.N)
			reads0, txns0, watched0 := requests(stores)
			var next atomic.Int64
			measure(b, func(w int) error {
				i := next.Add(1) - 1
				_, err := tills[w%len(tills)].Redeem(context.Background(), client.RedeemRequest{Code: client.Code{Code: codes[i]}, Register: "bench"})
				return err
			})
			reads, txns, watched := requests(stores)
			b.ReportMetric(float64(reads-reads0)/float64(b.N), "etcd-reads/op")
			b.ReportMetric(float64(txns-txns0)/float64(b.N), "etcd-txns/op")
			b.ReportMetric(float64(watched-watched0)/float64(b.N), "watch-msgs/op")
		})
	}
}

// measure runs op b.N times from benchWorkers goroutines and reports the
// rate and the 99th percentile of the latencies.
func measure(b *testing.B, op func(worker int) error) {
	var next atomic.Int64
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu := benchcpu.Start(b) // the whole process: clients, nodes and etcd members alike
	start := time.Now()
	for w := range benchWorkers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t := time.Now()
				if err := op(w); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	cpu.Report(b)
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/took.Seconds(), "ops/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// fleetWithCoupons starts n nodes over the cluster (node i a client of
// member i), each a whole service behind its own HTTP server, and mints
// count coupons; it returns a register's client on every node.
func fleetWithCoupons(b *testing.B, cluster *etcdtest.Cluster, n, count int) ([]*client.Client, []string, []*etcdstore.Store) {
	b.Helper()
	master, err := keys.ParseMasterKey(testserver.NewMasterKey(b))
	if err != nil {
		b.Fatal(err)
	}
	prefix := cluster.Prefix(b)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers}}
	var admins []*client.Client
	var stores []*etcdstore.Store
	for i := range n {
		store, err := etcdstore.Open(etcdstore.Config{Endpoints: []string{cluster.Endpoint(i)}, Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		stores = append(stores, store)
		unlimited := issuer.Limit{PerSecond: 1e9, Burst: 1e9}
		svc, err := service.Open(service.Options{Store: store, Master: master, IssueLimit: unlimited, RewardLimit: unlimited, MaxInFlight: 4 * benchWorkers})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { svc.Close() })
		if _, err := svc.Access.Bootstrap(testserver.AdminToken); err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(svc.Handler)
		b.Cleanup(srv.Close)
		c, err := client.New(srv.URL, client.WithToken(testserver.AdminToken), client.WithHTTPClient(hc))
		if err != nil {
			b.Fatal(err)
		}
		admins = append(admins, c)
	}
	ctx := context.Background()
	if _, err := admins[0].CreateMerchant(ctx, "bench", "Bench Bakery"); err != nil {
		b.Fatal(err)
	}
	iss, err := admins[0].CreateAPIKey(ctx, client.APIKeyRequest{Merchant: "bench", Role: client.RoleIssuer, Name: "pos"})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := admins[0].CreateAPIKey(ctx, client.APIKeyRequest{Merchant: "bench", Role: client.RoleRegister, Name: "till"})
	if err != nil {
		b.Fatal(err)
	}
	var codes []string
	for len(codes) < count {
		batch, err := admins[0].As(iss.Token).IssueCoupons(ctx, client.CouponRequest{Merchant: "bench", Offer: "coffee", Count: min(count-len(codes), 500)})
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range batch.Coupons {
			codes = append(codes, c.Code)
		}
	}
	var tills []*client.Client
	for _, a := range admins {
		tills = append(tills, a.As(reg.Token))
	}
	return tills, codes, stores
}

// requests sums the reads and Txns the stores sent, and the watch
// messages they received (over all nodes).
func requests(stores []*etcdstore.Store) (reads, txns, watched uint64) {
	for _, s := range stores {
		r, t := s.Requests()
		reads, txns, watched = reads+r, txns+t, watched+s.WatchResponses()
	}
	return reads, txns, watched
}
