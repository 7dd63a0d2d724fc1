package verify_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stampseal/stampseal/credential"
	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/internal/etcdtest"
	"github.com/stampseal/stampseal/internal/sharedtest"
	"github.com/stampseal/stampseal/internal/testledger"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/storage/etcdstore"
	"github.com/stampseal/stampseal/verify"
)

// sharedLedger makes every world's ledger a shared one (sharedtest over
// its bbolt file), so that the verifier decides from the per-serial
// records instead of its in-memory index.
var sharedLedger bool

// TestMain runs the package's tests twice: on the embedded ledger, and
// again with every ledger shared, so that both ways of deciding meet every
// rule the tests pin.
//
// A profiling run (-test.cpuprofile and the like) makes one pass only: the
// second would write over the first pass's profile.
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if code == 0 && !profiling() {
		fmt.Println("--- the same tests on a shared ledger (per-serial records, no index)")
		sharedLedger = true
		code = m.Run()
	}
	os.Exit(code)
}

// profiling tells whether the test binary was asked to write a profile.
func profiling() bool {
	for _, name := range []string{"test.cpuprofile", "test.memprofile", "test.blockprofile", "test.mutexprofile", "test.trace"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != "" {
			return true
		}
	}
	return false
}

// node is one stampseal node's verifying stack over a shared store: its
// own key ring (and cache), issuer and verifier.
type node struct {
	ring *keys.Ring
	iss  *issuer.Issuer
	v    *verify.Verifier
}

// fleet is several nodes over one shared store.
type fleet struct {
	store *sharedtest.Store
	nodes []node
}

func newFleet(t *testing.T, n int) *fleet {
	t.Helper()
	f := &fleet{store: sharedtest.Open(t)}
	text, _ := keys.NewMasterKeyText()
	for range n {
		aead, err := keys.ParseMasterKey(text)
		if err != nil {
			t.Fatal(err)
		}
		ring := keys.NewRing(f.store, aead)
		iss := issuer.New(f.store, ring)
		v, err := verify.New(f.store, ring, verify.WithRewards(iss))
		if err != nil {
			t.Fatal(err)
		}
		f.nodes = append(f.nodes, node{ring, iss, v})
	}
	if err := f.nodes[0].ring.Create("bakery-1"); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTwoNodesRaceForOneCoupon(t *testing.T) {
	for _, maxUses := range []int{1, 3} {
		t.Run(fmt.Sprintf("max_uses %d", maxUses), func(t *testing.T) {
			f := newFleet(t, 2)
			got, err := f.nodes[0].iss.Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "free coffee", ValidFor: time.Hour, MaxUses: maxUses})
			if err != nil {
				t.Fatal(err)
			}
			code := got[0].Code
			var ok, refused atomic.Int32
			var wg sync.WaitGroup
			for i := range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := f.nodes[i%2]
					_, err := n.v.Redeem(verify.Request{Merchant: "bakery-1", Code: code, Register: fmt.Sprintf("till-%d", i),
						APIKey: fmt.Sprintf("key-%d", i%7), IdempotencyKey: fmt.Sprintf("sale-%d", i)})
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, verify.ErrAlreadyRedeemed):
						refused.Add(1)
					default:
						t.Errorf("redeem on node %d: %v", i%2, err)
					}
				}()
			}
			wg.Wait()
			if ok.Load() != int32(maxUses) || refused.Load() != int32(100-maxUses) {
				t.Errorf("100 redemptions racing over two nodes: %d succeeded, %d refused; want %d and %d", ok.Load(), refused.Load(), maxUses, 100-maxUses)
			}
			for i, n := range f.nodes {
				st, err := n.v.Status("bakery-1", got[0].Serial)
				if err != nil || st.UsesLeft != 0 || st.Status != verify.StatusRedeemed || len(st.History) != maxUses {
					t.Errorf("node %d: status %s, %d uses left, %d events, %v; want redeemed, 0 uses left, %d uses in its history", i, st.Status, st.UsesLeft, len(st.History), err, maxUses)
				}
			}
		})
	}
}

func TestTwoNodesStampOneCard(t *testing.T) {
	f := newFleet(t, 2)
	_, err := f.nodes[0].iss.CreateProgram(credential.Program{Merchant: "bakery-1", ID: "coffee", StampsRequired: 10,
		Reward: "free coffee", RewardValidFor: 720 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	card, err := f.nodes[1].iss.Card("bakery-1", "coffee")
	if err != nil {
		t.Fatal(err)
	}
	const stamps = 97
	rewards := make(chan string, stamps)
	var wg sync.WaitGroup
	for i := range stamps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := f.nodes[i%2].v.Stamp(verify.StampRequest{Stamps: 1, Request: verify.Request{Merchant: "bakery-1", Code: card.Code,
				Register: fmt.Sprintf("till-%d", i%2), APIKey: fmt.Sprintf("key-%d", i%2), IdempotencyKey: fmt.Sprintf("sale-%d", i)}})
			if err != nil {
				t.Errorf("stamp %d on node %d: %v", i, i%2, err)
				return
			}
			for _, r := range res.Rewards {
				rewards <- r.Serial
			}
		}()
	}
	wg.Wait()
	close(rewards)
	seen := map[string]bool{}
	for r := range rewards {
		seen[r] = true
	}
	if len(seen) != stamps/10 {
		t.Errorf("%d stamps on one card over two nodes paid %d distinct rewards, want %d", stamps, len(seen), stamps/10)
	}
	for i, n := range f.nodes {
		st, err := n.v.Status("bakery-1", card.Serial)
		if err != nil || st.StampsTotal != stamps || *st.Stamps != stamps%10 || len(st.Rewards) != stamps/10 {
			t.Errorf("node %d: %d stamps in all, %v on the card, %d rewards, %v; want %d, %d, %d", i, st.StampsTotal, st.Stamps, len(st.Rewards), err, stamps, stamps%10, stamps/10)
		}
	}
}

func TestNodesShareHoldsVoidsAndIdempotency(t *testing.T) {
	f := newFleet(t, 2)
	a, b := f.nodes[0].v, f.nodes[1].v
	got, err := f.nodes[0].iss.Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "free coffee", ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	code := got[0].Code
	req := func(key, idem string) verify.Request {
		return verify.Request{Merchant: "bakery-1", Code: code, Register: "till-" + key, APIKey: key, IdempotencyKey: idem}
	}

	h, err := a.Reserve(verify.ReserveRequest{Request: req("k1", "sale-1")})
	if err != nil {
		t.Fatal(err)
	}
	var reserved *verify.ReservedError
	if _, err := b.Redeem(req("k2", "sale-2")); !errors.As(err, &reserved) {
		t.Fatalf("redeem on node B of a coupon held on node A = %v, want ReservedError", err)
	}
	again, err := b.Reserve(verify.ReserveRequest{Request: req("k1", "sale-1")})
	if err != nil || again != h {
		t.Errorf("the hold's retry on node B = %+v, %v; want node A's answer %+v", again, err, h)
	}
	r, err := b.Confirm(verify.HoldAction{Merchant: "bakery-1", APIKey: "k1", Reservation: h.ReservationID, IdempotencyKey: "sale-1"})
	if err != nil {
		t.Fatalf("confirm on node B of a hold made on node A: %v", err)
	}
	if r2, err := a.Confirm(verify.HoldAction{Merchant: "bakery-1", APIKey: "k1", Reservation: h.ReservationID}); err != nil || r2 != r {
		t.Errorf("second confirm on node A = %+v, %v; want node B's answer %+v", r2, err, r)
	}
	if _, err := a.Redeem(req("k2", "sale-3")); !errors.Is(err, verify.ErrAlreadyRedeemed) {
		t.Errorf("redeem on node A after node B confirmed = %v, want ErrAlreadyRedeemed", err)
	}

	v, err := a.VoidRedemption(verify.VoidRequest{Merchant: "bakery-1", APIKey: "k1", ID: r.RedemptionID, Reason: "refund"})
	if err != nil || v.UsesLeft != 1 {
		t.Fatalf("void on node A = %+v, %v; want one use back", v, err)
	}
	if v2, err := b.VoidRedemption(verify.VoidRequest{Merchant: "bakery-1", APIKey: "k1", ID: r.RedemptionID, Reason: "refund"}); err != nil || v2 != v {
		t.Errorf("second void on node B = %+v, %v; want node A's answer %+v", v2, err, v)
	}
	if _, err := b.Redeem(req("k2", "sale-4")); err != nil {
		t.Errorf("redeem on node B of the use node A's void gave back: %v", err)
	}
	if _, err := a.Redeem(req("k2", "sale-5")); !errors.Is(err, verify.ErrAlreadyRedeemed) {
		t.Errorf("another redeem on node A = %v, want ErrAlreadyRedeemed", err)
	}
}

func TestASharedLedgerCopiedWithoutRecordsIsRefused(t *testing.T) {
	w := newWorld(t, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour})
	if _, err := w.redeem(c.Code, "till-1", "sale-1"); err != nil {
		t.Fatal(err)
	}
	if sharedLedger {
		return // the world's ledger has its records already
	}
	shared := sharedtest.Wrap(w.db)
	if _, err := verify.New(shared, w.ring); !errors.Is(err, verify.ErrRecordsMissing) {
		t.Fatalf("a shared verifier over a journal without records = %v, want ErrRecordsMissing", err)
	}
	if err := verify.BuildRecords(shared, w.now()); err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(shared, w.ring, verify.WithClock(w.now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Redeem(verify.Request{Merchant: "bakery-1", Code: c.Code, Register: "till-2"}); !errors.Is(err, verify.ErrAlreadyRedeemed) {
		t.Errorf("redeem on the shared ledger of a coupon used before the copy = %v, want ErrAlreadyRedeemed", err)
	}
	if r, err := v.Redeem(verify.Request{Merchant: "bakery-1", Code: c.Code, Register: "till-1", IdempotencyKey: "sale-1"}); err != nil || !r.Redeemed {
		t.Errorf("the first sale's retry on the shared ledger = %+v, %v; want its answer again", r, err)
	}
	var n int
	shared.View(func(tx storage.Tx) error {
		return tx.Scan(storage.Trails, nil, func(_, _ []byte) error { n++; return nil })
	})
	if n != 1 {
		t.Errorf("%d per-serial records, want 1", n)
	}
}

func TestALedgerMigratedToEtcdDecidesOnceItsRecordsAreBuilt(t *testing.T) {
	if sharedLedger {
		return // the world's own ledger is the bbolt file to migrate
	}
	w := newWorld(t, "bakery-1")
	c := w.coupon("bakery-1", issuer.CouponRequest{ValidFor: time.Hour})
	if _, err := w.redeem(c.Code, "till-1", "sale-1"); err != nil {
		t.Fatal(err)
	}
	w.db.Close()
	cluster := etcdtest.New(t)
	cfg := etcdstore.Config{Endpoints: cluster.Endpoints(), Prefix: cluster.Prefix(t)}
	if _, err := etcdstore.Migrate(cfg, w.path, false, nil); err != nil {
		t.Fatal(err)
	}
	store, err := etcdstore.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	aead, _ := keys.ParseMasterKey(w.master)
	ring := keys.NewRing(store, aead)
	if _, err := verify.New(store, ring); !errors.Is(err, verify.ErrRecordsMissing) {
		t.Fatalf("a verifier on the migrated ledger before BuildRecords = %v, want ErrRecordsMissing", err)
	}
	if err := verify.BuildRecords(store, w.now()); err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(store, ring, verify.WithClock(w.now))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Redeem(verify.Request{Merchant: "bakery-1", Code: c.Code, Register: "till-2"}); !errors.Is(err, verify.ErrAlreadyRedeemed) {
		t.Errorf("redeem on etcd of a coupon used before the migration = %v, want ErrAlreadyRedeemed", err)
	}
}

// BenchmarkRedeemParallelEtcd: 64 callers redeem distinct coupons through
// one verifier over an embedded 3-member etcd cluster (no fsync): each
// redemption reads its records and commits one etcd transaction.
func BenchmarkRedeemParallelEtcd(b *testing.B) {
	if sharedLedger {
		b.Skip("run once")
	}
	_, iss, v := etcdNode(b, "bakery-1")
	codes := make(chan string, b.N)
	for n := b.N; n > 0; {
		got, err := iss.Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "free coffee", ValidFor: time.Hour, Count: min(n, 100)})
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range got {
			codes <- c.Code
		}
		n -= len(got)
	}
	close(codes)
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Redeem(verify.Request{Merchant: "bakery-1", Code: <-codes, Register: "till-1"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "redeems/s")
}

// BenchmarkListPageEtcd is BenchmarkListPage over an embedded 3-member
// etcd cluster, with 5,000 coupons.
func BenchmarkListPageEtcd(b *testing.B) {
	if sharedLedger {
		b.Skip("run once")
	}
	store, iss, v := etcdNode(b, "bakery-1")
	listPages(b, iss, v, 5000, 100, func() uint64 { reads, _ := store.Requests(); return reads })
}

// BenchmarkRawEtcdTxn is the reference for BenchmarkRedeemParallelEtcd: 64
// callers each commit one compare-and-put Txn on a key of their own (what
// a redemption's commit is, without its reads), on the same kind of
// cluster.
func BenchmarkRawEtcdTxn(b *testing.B) {
	if sharedLedger {
		b.Skip("run once")
	}
	cluster := etcdtest.New(b)
	cli := cluster.Client(b)
	prefix := cluster.Prefix(b)
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := fmt.Sprintf("%s/%d", prefix, n.Add(1))
			_, err := cli.Txn(context.Background()).If(clientv3.Compare(clientv3.ModRevision(k), "=", 0)).
				Then(clientv3.OpPut(k, "used")).Commit()
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "txns/s")
}

// TestListOnEtcdReadsAChunkInOneRequest: listing a merchant's credentials
// on a fleet reads the trails and blocks of up to 64 rows in one request,
// not one read per row, and still reports each row's status exactly.
func TestListOnEtcdReadsAChunkInOneRequest(t *testing.T) {
	if sharedLedger {
		return // it builds its own etcd ledger: the first pass ran it whole
	}
	store, iss, v := etcdNode(t, "bakery-1", "bakery-2")
	mine, err := iss.Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "free coffee", ValidFor: time.Hour, Count: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Coupons(issuer.CouponRequest{Merchant: "bakery-2", Offer: "free bun", ValidFor: time.Hour, Count: 30}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i, c := range mine {
		want[c.Serial] = verify.StatusActive
		switch i % 10 {
		case 3:
			if _, err := v.Redeem(verify.Request{Merchant: "bakery-1", Code: c.Code, Register: "till-1"}); err != nil {
				t.Fatal(err)
			}
			want[c.Serial] = verify.StatusRedeemed
		case 7:
			if err := fraud.New(store, fraud.DefaultConfig()).Block("bakery-1", c.Serial, "reported stolen", "test"); err != nil {
				t.Fatal(err)
			}
			want[c.Serial] = verify.StatusBlocked
		}
	}

	got := map[string]string{}
	var pages int
	reads0, _ := store.Requests()
	for after := ""; ; pages++ {
		page, next, err := v.List(verify.ListQuery{Merchant: "bakery-1", After: after, Limit: 60})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range page {
			got[l.Serial] = l.Status
		}
		if next == "" {
			pages++
			break
		}
		after = next
	}
	reads, _ := store.Requests()
	if len(got) != len(want) {
		t.Fatalf("listed %d credentials in %d pages, want %d", len(got), pages, len(want))
	}
	for s, st := range want {
		if got[s] != st {
			t.Errorf("%s listed as %q, want %q", s, got[s], st)
		}
	}
	// Two pages over 130 credentials: per page one range read of the
	// bucket and a request per chunk of 64 rows, where one read per row
	// would take 100 or more.
	t.Logf("listing 100 credentials in %d pages: %d etcd reads", pages, reads-reads0)
	if n := reads - reads0; n > 8 {
		t.Errorf("listing 100 credentials in %d pages took %d etcd reads, want at most 8", pages, n)
	}
}

// etcdNode is one node's verifying stack over a fresh embedded 3-member
// etcd cluster, with keysets and the blocklist cached as a node's are.
func etcdNode(tb testing.TB, merchants ...string) (*etcdstore.Store, *issuer.Issuer, *verify.Verifier) {
	tb.Helper()
	cluster := etcdtest.New(tb)
	store, err := etcdstore.Open(etcdstore.Config{Endpoints: cluster.Endpoints(), Prefix: cluster.Prefix(tb)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	ring := testledger.Ring(tb, store, merchants...)
	ctx, stop := context.WithCancel(context.Background())
	tb.Cleanup(stop)
	if err := ring.Follow(ctx); err != nil {
		tb.Fatal(err)
	}
	v, err := verify.New(store, ring)
	if err != nil {
		tb.Fatal(err)
	}
	if err := v.Follow(ctx); err != nil {
		tb.Fatal(err)
	}
	return store, issuer.New(store, ring), v
}
