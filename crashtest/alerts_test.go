package crashtest

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampseal/stampseal/client"
)

// Alert writes left the request path (fraud/writer.go): a replayed coupon
// is answered 409 once its alert is durable, and later replays only add to
// it in the background. Killed with SIGKILL while registers replay coupons,
// the restarted server has an open replay alert for every coupon whose
// replay was answered.
func TestCrashKeepsEveryRaisedAlert(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, data)
	c := newClient(16)
	sh := setupShop(t, srv, c, "alert-bakery", 4)
	coupons := sh.coupons(t, srv, c, 1, 200)
	for i, cp := range coupons {
		srv.must(c, 200, "POST", "/v1/redeem", sh.registers[i%len(sh.registers)], map[string]any{"code": cp.Code, "register": "till-1"})
	}

	var mu sync.Mutex
	answered := map[string]bool{} // serials whose replay was answered 409
	var sent atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for ctx.Err() == nil {
				cp := coupons[rng.IntN(len(coupons))]
				a, err := call(ctx, c, "POST", srv.base+"/v1/redeem", sh.registers[rng.IntN(len(sh.registers))],
					map[string]any{"code": cp.Code, "register": "till-2"})
				if err != nil {
					return // the server is gone
				}
				sent.Add(1)
				if a.status != 409 || a.errCode() != "already_redeemed" {
					t.Errorf("replay of %s = %d %s, want 409 already_redeemed", cp.Serial, a.status, a.raw)
					return
				}
				mu.Lock()
				answered[cp.Serial] = true
				mu.Unlock()
			}
		})
	}
	// Kill once most coupons were replayed at least once and the writer has
	// had updates in its hands.
	for deadline := time.Now().Add(time.Minute); sent.Load() < 600 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	srv.kill()
	cancel()
	wg.Wait()
	if len(answered) == 0 {
		t.Fatal("no replay was answered before the kill: the test shows nothing")
	}

	srv = startServer(t, data)
	auditor := apiKey(t, srv, c, sh.merchant, client.RoleAuditor, "security")
	alerts, err := srv.api(t, c, auditor).Alerts(context.Background(), client.AlertFilter{Status: "open", Limit: 1000})
	if err != nil {
		srv.fatal(t, "list alerts", err)
	}
	found := map[string]int{}
	for _, a := range alerts {
		if a.Serial != "" {
			found[a.Serial] += a.Count
		}
	}
	lost := 0
	for serial := range answered {
		if found[serial] == 0 {
			lost++
			t.Errorf("coupon %s: its replay was answered 409 before the kill, but no open alert names it after the restart", serial)
		}
	}
	t.Logf("%d replays sent, %d coupons replayed before the kill, %d alerts after the restart, %d lost", sent.Load(), len(answered), len(alerts), lost)
}
