package api_test

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampseal/stampseal/verify"
)

// testClock is a clock the test moves: holds expire without sleeping.
type testClock struct{ t atomic.Pointer[time.Time] }

func newTestClock() *testClock {
	c := &testClock{}
	now := time.Now().UTC().Add(time.Minute).Truncate(time.Second) // after the issuer, which signs on the real clock
	c.t.Store(&now)
	return c
}

func (c *testClock) now() time.Time          { return *c.t.Load() }
func (c *testClock) advance(d time.Duration) { n := c.now().Add(d); c.t.Store(&n) }

func withClock(c *testClock) func(*server) {
	return func(s *server) { s.clock = c.now }
}

// history lists the ops in a credential's history.
func (s *server) ops(token, serial string) []string {
	s.t.Helper()
	st := s.must(200, "GET", "/v1/credentials/"+serial, token, nil)
	var out []string
	for _, e := range st.get("history").([]any) {
		out = append(out, e.(map[string]any)["op"].(string))
	}
	return out
}

func TestTillDayHoldPayFailsReleaseHoldAgainConfirm(t *testing.T) {
	clock := newTestClock()
	s := newServer(t, withClock(clock))
	sh := s.shop("bakery-1")
	serial, code := s.coupon(sh, 1)

	// The cashier scans the coupon: it is held for the sale.
	h := s.must(201, "POST", "/v1/reservations", sh.register, map[string]any{"code": code, "register": "till-3", "idempotency_key": "sale-1"})
	if h.str("serial") != serial || h.str("uses_left") != "0" || h.str("expires_at") != clock.now().Add(5*time.Minute).Format(time.RFC3339) {
		t.Fatalf("reservation = %s; want the serial, no use left, expiry in 5m", h.raw)
	}
	if again := s.must(201, "POST", "/v1/reservations", sh.register, map[string]any{"code": code, "register": "till-3", "idempotency_key": "sale-1"}); string(again.raw) != string(h.raw) {
		t.Errorf("retried reservation = %s; want %s", again.raw, h.raw)
	}
	// Meanwhile nobody else can use it.
	other := s.must(409, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": "till-4", "idempotency_key": "x"})
	if other.str("error", "code") != "reserved" || other.str("error", "register") != "till-3" || other.str("error", "expires_at") != h.str("expires_at") {
		t.Errorf("redeem of a held coupon = %s; want 409 reserved naming till-3 and the expiry", other.raw)
	}
	// The card payment fails: the cashier releases the coupon.
	id := h.str("reservation_id")
	rel := s.must(200, "POST", "/v1/reservations/"+id+"/release", sh.register, nil)
	if rel.get("released") != true {
		t.Errorf("release = %s", rel.raw)
	}
	// The customer pays another way: hold again, then confirm.
	clock.advance(time.Minute)
	h2 := s.must(201, "POST", "/v1/reservations", sh.register, map[string]any{"code": code, "register": "till-3", "ttl": "2m", "idempotency_key": "sale-1b"})
	conf := s.must(200, "POST", "/v1/reservations/"+h2.str("reservation_id")+"/confirm", sh.register, map[string]any{"idempotency_key": "sale-1b"})
	if conf.get("redeemed") != true || conf.str("uses_left") != "0" || conf.str("redemption_id") == "" || conf.str("serial") != serial {
		t.Fatalf("confirm = %s; want the answer of /v1/redeem with a redemption_id", conf.raw)
	}
	s.must(409, "POST", "/v1/reservations/"+id+"/confirm", sh.register, map[string]any{"idempotency_key": "late"})
	again := s.must(409, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": "till-4"})
	if again.str("error", "code") != "already_redeemed" {
		t.Errorf("redeem after confirm = %s", again.raw)
	}
	if got, want := fmt.Sprint(s.ops(sh.register, serial)), "[reserve release reserve redeem]"; got != want {
		t.Errorf("history = %s; want %s", got, want)
	}
}

func TestVoidAStampThatFilledACardWhoseRewardWasRedeemed(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.program(sh, "coffee", noLimits)
	serial, code := s.card(sh, "coffee")
	s.must(200, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": code, "stamps": 9, "register": "till-3", "idempotency_key": "s1"})
	full := s.must(200, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": code, "stamps": 1, "register": "till-3", "idempotency_key": "s2"})
	stampID := full.str("stamp_id")
	if stampID == "" || len(full.get("rewards").([]any)) != 1 {
		t.Fatalf("tenth stamp = %s; want a stamp_id and one reward", full.raw)
	}
	// The reward is redeemed at once.
	rewardSerial := full.str("rewards", "0", "serial")
	red := s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": full.str("rewards", "0", "code"), "register": "till-3"})
	if red.str("redemption_id") == "" {
		t.Fatalf("reward redemption = %s; want a redemption_id", red.raw)
	}
	// The tenth coffee is refunded: its stamp is voided, the reward stays.
	v := s.must(200, "POST", "/v1/stamps/"+stampID+"/void", sh.register, map[string]any{"reason": "refund"})
	if v.get("reward_kept") != true || v.str("stamps") != "0" || v.str("serial") != serial {
		t.Errorf("void = %s; want reward_kept, 0 stamps", v.raw)
	}
	if again := s.must(200, "POST", "/v1/stamps/"+stampID+"/void", sh.register, map[string]any{"reason": "refund"}); string(again.raw) != string(v.raw) {
		t.Errorf("second void = %s; want %s", again.raw, v.raw)
	}
	rs := s.must(200, "GET", "/v1/credentials/"+rewardSerial, sh.register, nil)
	if rs.str("status") != "redeemed" {
		t.Errorf("reward after the void = %s; want still redeemed", rs.raw)
	}
	if got, want := fmt.Sprint(s.ops(sh.register, serial)), "[stamp stamp reward void]"; got != want {
		t.Errorf("card history = %s; want %s", got, want)
	}
	// Another merchant's till and an auditor may not void.
	other := s.shop("bakery-2")
	s.must(404, "POST", "/v1/stamps/"+stampID+"/void", other.register, map[string]any{"reason": "x"})
	s.must(403, "POST", "/v1/stamps/"+stampID+"/void", sh.auditor, map[string]any{"reason": "x"})
	s.must(404, "POST", "/v1/redemptions/"+stampID+"/void", sh.register, map[string]any{"reason": "x"})
}

func TestVoidWindowIsTheMerchantsSetting(t *testing.T) {
	clock := newTestClock()
	s := newServer(t, withClock(clock))
	sh := s.shop("bakery-1")
	_, code := s.coupon(sh, 1)
	got := s.must(200, "GET", "/v1/merchants/bakery-1/settings", sh.admin, nil)
	if got.str("void_window") != "24h0m0s" {
		t.Errorf("default settings = %s", got.raw)
	}
	r := s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": "till-3"})
	clock.advance(25 * time.Hour)
	late := s.must(409, "POST", "/v1/redemptions/"+r.str("redemption_id")+"/void", sh.register, map[string]any{"reason": "late"})
	if late.str("error", "code") != "void_window_passed" {
		t.Errorf("void after 25h = %s", late.raw)
	}
	s.must(403, "PUT", "/v1/merchants/bakery-1/settings", sh.register, map[string]any{"void_window": "48h"})
	s.must(400, "PUT", "/v1/merchants/bakery-1/settings", sh.admin, map[string]any{"void_window": "forever"})
	s.must(200, "PUT", "/v1/merchants/bakery-1/settings", sh.admin, map[string]any{"void_window": "48h"})
	v := s.must(200, "POST", "/v1/redemptions/"+r.str("redemption_id")+"/void", sh.admin, map[string]any{"reason": "late"})
	if v.get("voided") != true || v.str("uses_left") != "1" {
		t.Errorf("void by the admin within 48h = %s", v.raw)
	}
}

func TestHoldsOutstandingAcrossARestart(t *testing.T) {
	clock := newTestClock()
	s := newServer(t, withClock(clock))
	sh := s.shop("bakery-1")
	_, short := s.coupon(sh, 1)
	_, long := s.coupon(sh, 1)
	s.must(201, "POST", "/v1/reservations", sh.register, map[string]any{"code": short, "register": "till-3", "ttl": "1m"})
	hl := s.must(201, "POST", "/v1/reservations", sh.register, map[string]any{"code": long, "register": "till-3", "ttl": "10m"})
	clock.advance(2 * time.Minute)
	s.restart()
	s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": short, "register": "till-4"})
	held := s.must(409, "POST", "/v1/redeem", sh.register, map[string]any{"code": long, "register": "till-4"})
	if held.str("error", "code") != "reserved" || held.str("error", "expires_at") != hl.str("expires_at") {
		t.Errorf("redeem of a coupon held across the restart = %s", held.raw)
	}
	s.must(200, "POST", "/v1/reservations/"+hl.str("reservation_id")+"/confirm", sh.register, nil)
}

// race runs n goroutines of fn and waits for them.
func race(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

func TestRaceReserveRedeemReserveHasOneHolder(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	serial, code := s.coupon(sh, 1)
	var mu sync.Mutex
	won := map[string]int{}
	race(100, func(i int) {
		var a answer
		if i%3 == 1 {
			a = s.do("POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": fmt.Sprint("till-", i)})
		} else {
			a = s.do("POST", "/v1/reservations", sh.register, map[string]any{"code": code, "register": fmt.Sprint("till-", i)})
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case a.status == 200 || a.status == 201:
			won[fmt.Sprint(a.status)]++
		case a.status == 409 && (a.str("error", "code") == "reserved" || a.str("error", "code") == "already_redeemed"):
		default:
			t.Errorf("racing call answered %d %s", a.status, a.raw)
		}
	})
	if won["200"]+won["201"] != 1 {
		t.Errorf("100 racing reserves and redeems of a single-use coupon: %v succeeded; want exactly one holder", won)
	}
	st := s.must(200, "GET", "/v1/credentials/"+serial, sh.register, nil)
	if hist := st.get("history").([]any); len(hist) != 1 {
		t.Errorf("history = %s; want one event", st.raw)
	}
}

func TestRaceConfirmReleaseExpiryHaveOneOutcome(t *testing.T) {
	for round := range 5 {
		t.Run(fmt.Sprint("round ", round), func(t *testing.T) {
			clock := newTestClock()
			s := newServer(t, withClock(clock))
			sh := s.shop("bakery-1")
			serial, code := s.coupon(sh, 1)
			h := s.must(201, "POST", "/v1/reservations", sh.register, map[string]any{"code": code, "register": "till-3", "ttl": "1m"})
			id := h.str("reservation_id")
			var mu sync.Mutex
			outcomes := map[string]int{}
			ids := map[string]bool{}
			var answered atomic.Int64
			race(100, func(i int) {
				var a answer
				switch {
				case i == 50:
					// The hold expires in the middle of the race: at once in
					// the first round, after a few answers in later ones.
					for answered.Load() < int64(round*2) {
						runtime.Gosched()
					}
					clock.advance(time.Minute)
					return
				case i%2 == 0:
					a = s.do("POST", "/v1/reservations/"+id+"/confirm", sh.register, map[string]any{"idempotency_key": fmt.Sprint("pay-", i)})
				default:
					a = s.do("POST", "/v1/reservations/"+id+"/release", sh.register, nil)
				}
				answered.Add(1)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case a.status == 200 && a.get("redeemed") == true:
					outcomes["confirmed"]++
					ids[a.str("redemption_id")] = true
				case a.status == 200 && a.get("released") == true:
					outcomes["released"]++
				case a.status == 409:
					outcomes[a.str("error", "code")]++
				default:
					t.Errorf("racing call answered %d %s", a.status, a.raw)
				}
			})
			t.Logf("outcomes: %v", outcomes)
			st := s.must(200, "GET", "/v1/credentials/"+serial, sh.register, nil)
			switch {
			case outcomes["confirmed"] > 0:
				if len(ids) != 1 || outcomes["released"] > 0 || outcomes["reservation_expired"] > 0 || st.str("uses_left") != "0" {
					t.Errorf("confirmed, but outcomes %v, %d redemption ids, status %s", outcomes, len(ids), st.raw)
				}
			case outcomes["released"] > 0:
				if outcomes["reservation_expired"] > 0 || outcomes["reservation_confirmed"] > 0 || st.str("uses_left") != "1" {
					t.Errorf("released, but outcomes %v, status %s", outcomes, st.raw)
				}
			default:
				if outcomes["reservation_expired"] != 99 || st.str("uses_left") != "1" {
					t.Errorf("expired, but outcomes %v, status %s", outcomes, st.raw)
				}
			}
		})
	}
}

func TestRaceConfirmWithOneIdempotencyKeyRedeemsOnce(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	serial, code := s.coupon(sh, 3)
	h := s.must(201, "POST", "/v1/reservations", sh.register, map[string]any{"code": code, "register": "till-3"})
	s.sameAnswer("confirm", func(int) answer {
		return s.do("POST", "/v1/reservations/"+h.str("reservation_id")+"/confirm", sh.register, map[string]any{"idempotency_key": "pay-1"})
	})
	st := s.must(200, "GET", "/v1/credentials/"+serial, sh.register, nil)
	if st.str("uses_left") != "2" || fmt.Sprint(s.ops(sh.register, serial)) != "[reserve redeem]" {
		t.Errorf("after 100 confirms: %s; want one redemption", st.raw)
	}
}

func TestRaceVoidTwiceVoidsOnce(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	serial, code := s.coupon(sh, 1)
	r := s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": "till-3"})
	s.sameAnswer("void", func(i int) answer {
		token := sh.register
		if i%2 == 1 {
			token = sh.admin
		}
		return s.do("POST", "/v1/redemptions/"+r.str("redemption_id")+"/void", token, map[string]any{"reason": "wrong coupon"})
	})
	st := s.must(200, "GET", "/v1/credentials/"+serial, sh.register, nil)
	if st.str("uses_left") != "1" || fmt.Sprint(s.ops(sh.register, serial)) != "[redeem void]" {
		t.Errorf("after 100 voids: %s; want one void", st.raw)
	}
}

func TestVoidsAndSettingsAreInTheAuditTrail(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.program(sh, "coffee", noLimits)
	_, code := s.coupon(sh, 1)
	_, card := s.card(sh, "coffee")
	r := s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": "till-3"})
	st := s.must(200, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": card, "stamps": 2, "register": "till-3"})
	s.must(200, "POST", "/v1/redemptions/"+r.str("redemption_id")+"/void", sh.register, map[string]any{"reason": "refund"})
	s.must(200, "POST", "/v1/stamps/"+st.str("stamp_id")+"/void", sh.admin, map[string]any{"reason": "wrong card"})
	s.must(200, "PUT", "/v1/merchants/bakery-1/settings", sh.admin, map[string]any{"void_window": "1h"})
	// An admin frees a hold that a till left behind.
	_, code2 := s.coupon(sh, 1)
	h := s.must(201, "POST", "/v1/reservations", sh.register, map[string]any{"code": code2, "register": "till-3"})
	s.must(200, "POST", "/v1/reservations/"+h.str("reservation_id")+"/release", sh.admin, nil)

	trail := s.must(200, "GET", "/v1/audit?merchant=bakery-1", sh.auditor, nil)
	got := map[string]map[string]any{}
	for _, e := range trail.get("events").([]any) {
		ev := e.(map[string]any)
		got[ev["action"].(string)] = ev
	}
	for action, want := range map[string]struct{ target, role, detail, value string }{
		verify.AuditRedemptionVoided: {r.str("redemption_id"), "register", "reason", "refund"},
		verify.AuditStampVoided:      {st.str("stamp_id"), "admin", "taken_back", "2"},
		verify.AuditSettingsChanged:  {"bakery-1", "admin", "void_window", "1h0m0s"},
		verify.AuditReservationFreed: {h.str("reservation_id"), "admin", "register", "till-3"},
	} {
		ev := got[action]
		if ev == nil || ev["target"] != want.target || ev["actor_role"] != want.role || ev["actor_key_id"] == "" ||
			ev["details"].(map[string]any)[want.detail] != want.value {
			t.Errorf("audit entry %s = %v; want target %s by a %s key with %s=%s", action, ev, want.target, want.role, want.detail, want.value)
		}
	}
}

func TestVoidThenRedeemAgainRaisesInsider(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	_, code := s.coupon(sh, 1)
	r := s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": "till-3"})
	s.must(200, "POST", "/v1/redemptions/"+r.str("redemption_id")+"/void", sh.register, map[string]any{"reason": "scanned by mistake"})
	if a := s.must(200, "GET", "/v1/alerts?status=open&kind=insider", sh.auditor, nil); len(a.get("alerts").([]any)) != 0 {
		t.Fatalf("insider alerts after one void = %s; want none", a.raw)
	}
	s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": "till-3"})
	a := s.must(200, "GET", "/v1/alerts?status=open&kind=insider", sh.auditor, nil)
	if len(a.get("alerts").([]any)) != 1 || a.str("alerts", "0", "serial") != r.str("serial") {
		t.Errorf("insider alerts after void and redeem = %s; want one for the coupon", a.raw)
	}
}

// sameAnswer sends 100 racing requests and checks that every one was
// answered 200, all with the same body.
func (s *server) sameAnswer(what string, send func(i int) answer) {
	s.t.Helper()
	var mu sync.Mutex
	bodies := map[string]int{}
	race(100, func(i int) {
		a := send(i)
		mu.Lock()
		defer mu.Unlock()
		if a.status != 200 {
			s.t.Errorf("%s answered %d %s", what, a.status, a.raw)
		}
		bodies[string(a.raw)]++
	})
	if len(bodies) != 1 {
		s.t.Errorf("100 racing requests to %s gave %d different answers: %v", what, len(bodies), bodies)
	}
}
