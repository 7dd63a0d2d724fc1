package offline_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stampseal/stampseal/fraud"
	"github.com/stampseal/stampseal/internal/testledger"
	"github.com/stampseal/stampseal/issuer"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/offline"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/verify"
)

type world struct {
	store   *storage.Bolt
	ring    *keys.Ring
	iss     *issuer.Issuer
	monitor *fraud.Monitor
	svc     *offline.Service
}

func newWorld(t *testing.T) *world {
	t.Helper()
	store, ring := testledger.Open(t, "bakery-1")
	w := &world{store: store, ring: ring}
	w.iss = issuer.New(store, w.ring)
	w.monitor = fraud.New(store, fraud.DefaultConfig())
	v, err := verify.New(store, w.ring, verify.WithRewards(w.iss), verify.WithObserver(w.monitor))
	if err != nil {
		t.Fatal(err)
	}
	w.svc = offline.NewService(store, w.ring, v, w.monitor)
	return w
}

func TestRacingSyncsOfOneCouponApplyItOnce(t *testing.T) {
	w := newWorld(t)
	coupons, err := w.iss.Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "cake", ValidFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const tills = 100
	statuses := make([]string, tills)
	var wg sync.WaitGroup
	for i := range tills {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := offline.Caller{Merchant: "bakery-1", APIKey: fmt.Sprint("key-", i), Name: fmt.Sprint("till ", i)}
			res, err := w.svc.Sync(c, []offline.Operation{{Op: offline.OpRedeem, Code: coupons[0].Code, Register: fmt.Sprint("till-", i),
				IdempotencyKey: fmt.Sprint("sale-", i), At: time.Now()}})
			if err != nil {
				t.Error(err)
				return
			}
			statuses[i] = res[0].Status
		}()
	}
	wg.Wait()
	count := map[string]int{}
	for _, s := range statuses {
		count[s]++
	}
	if count[offline.Applied] != 1 || count[offline.Conflict] != tills-1 {
		t.Errorf("statuses of %d racing syncs: %v, want one applied, the rest conflicts", tills, count)
	}
	losses, err := w.svc.Losses("bakery-1", 1000)
	if err != nil || len(losses) != tills-1 {
		t.Errorf("losses: %d (%v), want %d", len(losses), err, tills-1)
	}
	w.monitor.Flush()
	alerts, err := w.monitor.Alerts("bakery-1", fraud.Filter{Kind: fraud.KindOfflineDoubleSpend})
	if err != nil || len(alerts) != 1 {
		t.Fatalf("alerts: %v (%v), want one", alerts, err)
	}
	if n := len(alerts[0].Evidence.Registers); n < 2 {
		t.Errorf("alert names %d registers, want both sides", n)
	}
	// The conflict is one incident of its own kind, not a replay as well.
	if replays, err := w.monitor.Alerts("bakery-1", fraud.Filter{Kind: fraud.KindReplay}); err != nil || len(replays) != 0 {
		t.Errorf("replay alerts for an offline conflict: %d (%v), want none", len(replays), err)
	}
}

func TestSyncRemembersEachKeysOperationsApart(t *testing.T) {
	w := newWorld(t)
	coupons, _ := w.iss.Coupons(issuer.CouponRequest{Merchant: "bakery-1", Offer: "cake", Count: 2})
	op := func(code string) []offline.Operation {
		return []offline.Operation{{Op: offline.OpRedeem, Code: code, Register: "r", IdempotencyKey: "sale-1", At: time.Now()}}
	}
	a, _ := w.svc.Sync(offline.Caller{Merchant: "bakery-1", APIKey: "key-a"}, op(coupons[0].Code))
	b, _ := w.svc.Sync(offline.Caller{Merchant: "bakery-1", APIKey: "key-b"}, op(coupons[1].Code))
	again, _ := w.svc.Sync(offline.Caller{Merchant: "bakery-1", APIKey: "key-a"}, op(coupons[0].Code))
	if a[0].Status != offline.Applied || b[0].Status != offline.Applied || again[0].Status != offline.Duplicate {
		t.Errorf("statuses: %s, %s, %s; want applied, applied (another key's sale-1), duplicate", a[0].Status, b[0].Status, again[0].Status)
	}
}

func FuzzPolicy(f *testing.F) {
	f.Add([]byte(`{"allowed": true, "max_offline": "24h"}`))
	f.Add([]byte(`{"allowed": false}`))
	f.Add([]byte(`{"max_offline": "-1h"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var p offline.Policy
		if json.Unmarshal(raw, &p) == nil && p.Validate() != nil {
			t.Errorf("accepted an invalid policy %+v from %q", p, raw)
		}
	})
}
