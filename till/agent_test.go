package till_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestOnlineAnswersAreTheServers(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	token := s.register(sh, "till 1")
	net := newNetwork(t, s.url)
	a := newAgent(t, net.url(), token, nil)
	s.program(sh, "coffee", nil)
	_, card := s.card(sh, "coffee")
	_, punch := s.punch(sh, "coffee")
	_, coupon := s.coupon(sh, nil)

	for _, tc := range []struct {
		name, path string
		body       map[string]any
	}{
		{"verify", "/v1/verify", map[string]any{"code": coupon}},
		{"redeem", "/v1/redeem", map[string]any{"code": coupon, "register": "till-1", "idempotency_key": "sale-1"}},
		{"redeem retried", "/v1/redeem", map[string]any{"code": coupon, "register": "till-1", "idempotency_key": "sale-1"}},
		{"redeem again", "/v1/redeem", map[string]any{"code": coupon, "register": "till-1", "idempotency_key": "sale-2"}},
		{"stamp", "/v1/cards/stamp", map[string]any{"card_code": card, "stamps": 2, "register": "till-1", "idempotency_key": "sale-3"}},
		{"claim", "/v1/cards/claim", map[string]any{"card_code": card, "punch_code": punch, "register": "till-1"}},
		{"verify used", "/v1/verify", map[string]any{"code": coupon}},
		{"garbage", "/v1/verify", map[string]any{"code": "SS1:nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := a.do(t, tc.path, tc.body)
			if strings.Contains(string(got.raw), `"offline"`) {
				t.Fatalf("online answer marked offline: %s", got.raw)
			}
			// The server answers an idempotent retry, and a read, with what
			// it answered first: the agent's answer must be that answer.
			if tc.path == "/v1/verify" || tc.body["idempotency_key"] != nil {
				want := call(t, s.url, "POST", tc.path, token, tc.body)
				if got.status != want.status || string(got.raw) != string(want.raw) {
					t.Errorf("agent: %d %s\nserver: %d %s", got.status, got.raw, want.status, want.raw)
				}
			}
		})
	}
	if h := a.Health(); !h.Online || h.QueueLength != 0 {
		t.Errorf("health after online calls: %+v", h)
	}
}

func TestCutNetworkStampsAndAllowedRedemptionsGoOn(t *testing.T) {
	for _, cut := range []string{"refused", "dropped"} {
		t.Run(cut, func(t *testing.T) {
			s := newServer(t)
			sh := s.shop("bakery-1")
			token := s.register(sh, "till 1")
			s.program(sh, "coffee", nil)
			cardSerial, card := s.card(sh, "coffee")
			couponSerial, coupon := s.coupon(sh, map[string]any{"allowed": true, "max_offline": "24h"})
			_, onlineOnly := s.coupon(sh, map[string]any{"allowed": false})
			net := newNetwork(t, s.url)
			a := newAgent(t, net.url(), token, nil)

			if cut == "refused" {
				net.refuse()
			} else {
				net.drop()
			}
			st := a.do(t, "/v1/cards/stamp", map[string]any{"card_code": card, "stamps": 3, "register": "till-1"})
			if st.status != 200 || st.str("offline") != "true" || st.str("added") != "3" {
				t.Fatalf("offline stamp: %d %s", st.status, st.raw)
			}
			rd := a.do(t, "/v1/redeem", map[string]any{"code": coupon, "register": "till-1", "idempotency_key": "sale-1"})
			if rd.status != 200 || rd.str("offline") != "true" || rd.str("redeemed") != "true" {
				t.Fatalf("offline redeem: %d %s", rd.status, rd.raw)
			}
			if again := a.do(t, "/v1/redeem", map[string]any{"code": coupon, "register": "till-1", "idempotency_key": "sale-1"}); string(again.raw) != string(rd.raw) {
				t.Errorf("retry of an offline redemption: %s, want the first answer %s", again.raw, rd.raw)
			}
			if twice := a.do(t, "/v1/redeem", map[string]any{"code": coupon, "register": "till-1", "idempotency_key": "sale-2"}); twice.status != 409 || twice.str("error", "code") != "already_redeemed" {
				t.Errorf("second use at the same till: %d %s, want 409 already_redeemed", twice.status, twice.raw)
			}
			if no := a.do(t, "/v1/redeem", map[string]any{"code": onlineOnly, "register": "till-1"}); no.status != 503 || no.str("error", "code") != "offline_not_allowed" {
				t.Errorf("online-only coupon offline: %d %s, want 503 offline_not_allowed", no.status, no.raw)
			}
			if v := a.do(t, "/v1/verify", map[string]any{"code": coupon}); v.str("offline") != "true" || v.str("status") != "redeemed" {
				t.Errorf("offline verify of the coupon used here: %s", v.raw)
			}
			h := a.Health()
			if h.Online || h.QueueLength != 2 || h.OldestQueuedAt == nil {
				t.Errorf("health while cut: %+v", h)
			}
			metrics := call(t, a.url, "GET", "/metrics", "", nil)
			if !strings.Contains(string(metrics.raw), "stampseal_till_queue_length 2") || !strings.Contains(string(metrics.raw), "stampseal_till_online 0") {
				t.Errorf("metrics while cut:\n%s", metrics.raw)
			}

			if cut == "refused" {
				net.restore()
			} else {
				net.heal()
			}
			if err := a.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := a.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			if h := a.Health(); !h.Online || h.QueueLength != 0 {
				t.Errorf("health after sync: %+v", h)
			}
			if c := s.credential(sh, token, cardSerial); c.str("stamps") != "3" {
				t.Errorf("card after sync: %s, want 3 stamps", c.raw)
			}
			if c := s.credential(sh, token, couponSerial); c.str("uses_left") != "0" || c.str("history", "0", "register") != "till-1" {
				t.Errorf("coupon after sync: %s, want used once at till-1", c.raw)
			}
		})
	}
}

func TestTwoOfflineTillsSpendOneCouponOnceAndRaiseOneAlert(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	serial, coupon := s.coupon(sh, nil)
	net1, net2 := newNetwork(t, s.url), newNetwork(t, s.url)
	a1 := newAgent(t, net1.url(), s.register(sh, "till 1"), nil)
	a2 := newAgent(t, net2.url(), s.register(sh, "till 2"), nil)
	net1.refuse()
	net2.refuse()

	r1 := a1.do(t, "/v1/redeem", map[string]any{"code": coupon, "register": "till-1"})
	r2 := a2.do(t, "/v1/redeem", map[string]any{"code": coupon, "register": "till-2"})
	if r1.str("offline") != "true" || r2.str("offline") != "true" || r1.status != 200 || r2.status != 200 {
		t.Fatalf("offline redemptions: %s / %s", r1.raw, r2.raw)
	}
	net1.restore()
	net2.restore()
	for _, a := range []*agent{a1, a2} {
		if err := a.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	c := s.credential(sh, a1.token, serial)
	if c.str("uses_left") != "0" || c.str("history", "1") != "" || c.str("history", "0", "register") != "till-1" {
		t.Errorf("ledger: %s, want exactly one use, till-1's (synced first)", c.raw)
	}
	losses := must(t, 200, s.url, "GET", "/v1/merchants/"+sh.id+"/offline/losses", sh.auditor, nil)
	if losses.str("losses", "1") != "" || losses.str("losses", "0", "second", "register") != "till-2" || losses.str("losses", "0", "first", "register") != "till-1" {
		t.Errorf("losses: %s, want one: till-2's use after till-1's", losses.raw)
	}
	alerts := must(t, 200, s.url, "GET", "/v1/alerts?kind=offline_double_spend", sh.auditor, nil)
	if alerts.str("alerts", "1") != "" || alerts.str("alerts", "0", "serial") != serial {
		t.Fatalf("alerts: %s, want one about %s", alerts.raw, serial)
	}
	if regs := alerts.str("alerts", "0", "evidence", "registers"); !strings.Contains(regs, "till-1") || !strings.Contains(regs, "till-2") {
		t.Errorf("alert registers: %s, want both tills", regs)
	}
	for _, r := range []reply{r1, r2} {
		if at := r.str("redeemed_at"); !strings.Contains(alerts.str("alerts", "0", "evidence", "times"), at) {
			t.Errorf("alert times %s lack the till time %s", alerts.str("alerts", "0", "evidence", "times"), at)
		}
	}
}

func TestBlockedCardAndCompromisedKeyAreRefusedOffline(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	token := s.register(sh, "till 1")
	s.program(sh, "coffee", nil)
	_, oldCoupon := s.coupon(sh, nil)
	net := newNetwork(t, s.url)
	a := newAgent(t, net.url(), token, nil)

	must(t, 200, s.url, "POST", "/v1/merchants/"+sh.id+"/keys/rotate", adminToken, map[string]any{"compromised": true})
	_, newCoupon := s.coupon(sh, nil)
	cardSerial, card := s.card(sh, "coffee")
	must(t, 200, s.url, "POST", "/v1/credentials/"+cardSerial+"/block", sh.auditor, map[string]any{"reason": "sold online"})
	if err := a.Refresh(context.Background()); err != nil { // the agent was online when it happened
		t.Fatal(err)
	}
	net.refuse()
	if r := a.do(t, "/v1/cards/stamp", map[string]any{"card_code": card, "register": "till-1"}); r.status != 422 || r.str("error", "code") != "blocked" || r.str("offline") != "true" {
		t.Errorf("blocked card offline: %d %s, want 422 blocked", r.status, r.raw)
	}
	if r := a.do(t, "/v1/redeem", map[string]any{"code": oldCoupon, "register": "till-1"}); r.status != 422 || r.str("error", "code") != "revoked" {
		t.Errorf("coupon under a compromised key offline: %d %s, want 422 revoked", r.status, r.raw)
	}
	if r := a.do(t, "/v1/redeem", map[string]any{"code": newCoupon, "register": "till-1"}); r.status != 200 || r.str("offline") != "true" {
		t.Errorf("coupon under the new key offline: %d %s, want 200", r.status, r.raw)
	}
	tampered := []byte(newCoupon)
	tampered[len(tampered)-3] ^= 1
	if r := a.do(t, "/v1/verify", map[string]any{"code": string(tampered)}); r.str("valid") != "false" || r.str("offline") != "true" {
		t.Errorf("tampered coupon offline: %s", r.raw)
	}
}

func TestOfflinePastMaxOfflineRefusesCoveredCoupons(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	token := s.register(sh, "till 1")
	s.program(sh, "coffee", map[string]any{"allowed": true, "max_offline": "48h"})
	_, card := s.card(sh, "coffee")
	_, shortLived := s.coupon(sh, map[string]any{"allowed": true, "max_offline": "1h"})
	_, longLived := s.coupon(sh, map[string]any{"allowed": true, "max_offline": "6h"})
	clk := &clock{}
	start := time.Now()
	clk.set(start)
	net := newNetwork(t, s.url)
	a := newAgent(t, net.url(), token, clk.Now)
	net.refuse()

	clk.set(start.Add(2 * time.Hour))
	if r := a.do(t, "/v1/redeem", map[string]any{"code": shortLived, "register": "till-1"}); r.status != 503 || r.str("error", "code") != "offline_too_long" {
		t.Errorf("coupon with max_offline 1h, 2h offline: %d %s, want 503 offline_too_long", r.status, r.raw)
	}
	if r := a.do(t, "/v1/redeem", map[string]any{"code": longLived, "register": "till-1"}); r.status != 200 {
		t.Errorf("coupon with max_offline 6h, 2h offline: %d %s, want 200", r.status, r.raw)
	}
	if r := a.do(t, "/v1/cards/stamp", map[string]any{"card_code": card, "register": "till-1"}); r.status != 200 {
		t.Errorf("stamp on a 48h program, 2h offline: %d %s, want 200", r.status, r.raw)
	}
	clk.set(start.Add(49 * time.Hour))
	if r := a.do(t, "/v1/cards/stamp", map[string]any{"card_code": card, "register": "till-1"}); r.status != 503 || r.str("error", "code") != "offline_too_long" {
		t.Errorf("stamp on a 48h program, 49h offline: %d %s, want 503 offline_too_long", r.status, r.raw)
	}
}

func TestMerchantPolicyRefuseAndCaps(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	token := s.register(sh, "till 1")
	s.program(sh, "coffee", nil)
	_, card := s.card(sh, "coffee")
	_, punch := s.punch(sh, "coffee")
	_, c1 := s.coupon(sh, nil)
	_, c2 := s.coupon(sh, nil)
	net := newNetwork(t, s.url)
	a := newAgent(t, net.url(), token, nil)

	must(t, 200, s.url, "PUT", "/v1/merchants/"+sh.id+"/offline", sh.admin, map[string]any{"conflicts": "honour", "till_caps": map[string]any{"redemptions": 1}})
	if err := a.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	net.refuse()
	if r := a.do(t, "/v1/redeem", map[string]any{"code": c1, "register": "till-1"}); r.status != 200 {
		t.Fatalf("first offline redemption: %d %s", r.status, r.raw)
	}
	if r := a.do(t, "/v1/redeem", map[string]any{"code": c2, "register": "till-1"}); r.status != 503 || r.str("error", "code") != "offline_cap_reached" {
		t.Errorf("second offline redemption over a cap of 1: %d %s, want 503 offline_cap_reached", r.status, r.raw)
	}
	net.restore()
	must(t, 200, s.url, "PUT", "/v1/merchants/"+sh.id+"/offline", sh.admin, map[string]any{"conflicts": "refuse"})
	if err := a.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	net.refuse()
	if r := a.do(t, "/v1/redeem", map[string]any{"code": c2, "register": "till-1"}); r.status != 503 || r.str("error", "code") != "offline_not_allowed" {
		t.Errorf("coupon offline under a refuse policy: %d %s, want 503 offline_not_allowed", r.status, r.raw)
	}
	if r := a.do(t, "/v1/cards/claim", map[string]any{"card_code": card, "punch_code": punch, "register": "till-1"}); r.status != 503 || r.str("error", "code") != "offline_not_allowed" {
		t.Errorf("punch offline under a refuse policy: %d %s, want 503 offline_not_allowed", r.status, r.raw)
	}
	if r := a.do(t, "/v1/cards/stamp", map[string]any{"card_code": card, "register": "till-1"}); r.status != 200 || r.str("offline") != "true" {
		t.Errorf("stamp offline under a refuse policy: %d %s, want 200", r.status, r.raw)
	}
}

func TestOfflineClaimSyncsOnce(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	token := s.register(sh, "till 1")
	s.program(sh, "coffee", nil)
	cardSerial, card := s.card(sh, "coffee")
	punchSerial, punch := s.punch(sh, "coffee")
	net := newNetwork(t, s.url)
	a := newAgent(t, net.url(), token, nil)
	net.refuse()
	if r := a.do(t, "/v1/cards/claim", map[string]any{"card_code": card, "punch_code": punch, "register": "till-1"}); r.status != 200 || r.str("added") != "2" {
		t.Fatalf("offline claim: %d %s", r.status, r.raw)
	}
	if r := a.do(t, "/v1/cards/claim", map[string]any{"card_code": card, "punch_code": punch, "register": "till-1"}); r.status != 409 {
		t.Errorf("second offline claim of one punch: %d %s, want 409", r.status, r.raw)
	}
	net.restore()
	if err := a.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := s.credential(sh, token, cardSerial); c.str("stamps") != "2" {
		t.Errorf("card: %s, want 2 stamps", c.raw)
	}
	if c := s.credential(sh, token, punchSerial); c.str("uses_left") != "0" {
		t.Errorf("punch: %s, want used", c.raw)
	}
	// Back online, the punch used here is refused before it reaches the server.
	if r := a.do(t, "/v1/cards/claim", map[string]any{"card_code": card, "punch_code": punch, "register": "till-1"}); r.status != 409 {
		t.Errorf("claim of the synced punch online: %d %s, want 409", r.status, r.raw)
	}
}

func TestAgentRefusesOtherTokens(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	a := newAgent(t, s.url, s.register(sh, "till 1"), nil)
	other := s.register(sh, "till 2")
	if r := call(t, a.url, "POST", "/v1/verify", other, map[string]any{"code": "x"}); r.status != 401 {
		t.Errorf("another register's token at this agent: %d, want 401", r.status)
	}
	if r := call(t, a.url, "POST", "/v1/verify", "", map[string]any{"code": "x"}); r.status != 401 {
		t.Errorf("no token: %d, want 401", r.status)
	}
}

func TestOfflineSingleUseHoldsUnderRacingRedemptions(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	_, coupon := s.coupon(sh, nil)
	net := newNetwork(t, s.url)
	a := newAgent(t, net.url(), s.register(sh, "till 1"), nil)
	net.refuse()
	const n = 100
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- a.do(t, "/v1/redeem", map[string]any{"code": coupon, "register": "till-1", "idempotency_key": fmt.Sprint("sale-", i)}).status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for st := range statuses {
		count[st]++
	}
	if count[200] != 1 || count[409] != n-1 {
		t.Errorf("answers to %d racing offline redemptions: %v, want one 200 and the rest 409", n, count)
	}
	if h := a.Health(); h.QueueLength != 1 {
		t.Errorf("queue after the race: %d, want 1", h.QueueLength)
	}
}

func TestOfflineValueCap(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	token := s.register(sh, "till 1")
	var codes []string
	for range 2 {
		r := must(t, 201, s.url, "POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": sh.id, "offer": "cake", "valid_for": "24h",
			"max_uses": 1, "count": 1, "value": map[string]any{"amount": 300, "currency": "EUR"}})
		codes = append(codes, r.str("coupons", "0", "code"))
	}
	must(t, 200, s.url, "PUT", "/v1/merchants/"+sh.id+"/offline", sh.admin, map[string]any{"conflicts": "honour", "till_caps": map[string]any{"redemptions": 0, "value": 500}})
	net := newNetwork(t, s.url)
	a := newAgent(t, net.url(), token, nil)
	net.refuse()
	if r := a.do(t, "/v1/redeem", map[string]any{"code": codes[0], "register": "till-1"}); r.status != 200 {
		t.Fatalf("first 3.00 EUR offline: %d %s", r.status, r.raw)
	}
	if r := a.do(t, "/v1/redeem", map[string]any{"code": codes[1], "register": "till-1"}); r.status != 503 || r.str("error", "code") != "offline_cap_reached" {
		t.Errorf("6.00 EUR offline over a 5.00 cap: %d %s, want 503 offline_cap_reached", r.status, r.raw)
	}
	// After a sync that empties the queue, the till may spend again.
	net.restore()
	if err := a.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	net.refuse()
	a.do(t, "/v1/verify", map[string]any{"code": codes[1]}) // notices the cut
	if r := a.do(t, "/v1/redeem", map[string]any{"code": codes[1], "register": "till-1"}); r.status != 200 || r.str("offline") != "true" {
		t.Errorf("after a sync, offline again: %d %s, want 200", r.status, r.raw)
	}
}

func TestRevokedTillKeyDecidesNothingOffline(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	key := must(t, 201, s.url, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": sh.id, "role": "register", "name": "till 1"})
	_, coupon := s.coupon(sh, nil)
	net := newNetwork(t, s.url)
	a := newAgent(t, net.url(), key.str("token"), nil)
	must(t, 200, s.url, "POST", "/v1/apikeys/"+key.str("id")+"/revoke", adminToken, map[string]any{"reason": "till stolen"})
	if r := a.do(t, "/v1/redeem", map[string]any{"code": coupon, "register": "till-1"}); r.status != 401 {
		t.Fatalf("redeem with a revoked key, online: %d %s, want the server's 401", r.status, r.raw)
	}
	net.refuse()
	if r := a.do(t, "/v1/redeem", map[string]any{"code": coupon, "register": "till-1"}); r.status != 503 || r.str("offline") != "true" {
		t.Errorf("redeem with a revoked key, network cut: %d %s, want 503", r.status, r.raw)
	}
	if h := a.Health(); !h.KeyRefused || h.QueueLength != 0 {
		t.Errorf("health: %+v, want key_refused and nothing queued", h)
	}
}
