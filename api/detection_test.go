package api_test

import (
	"fmt"
	"strings"
	"testing"
)

// registerKey makes another register key of sh, at shop (or none).
func (s *server) registerKey(sh shop, name, at string) (id, token string) {
	s.t.Helper()
	body := map[string]any{"merchant": sh.id, "role": "register", "name": name}
	if at != "" {
		body["shop"] = at
	}
	a := s.must(201, "POST", "/v1/apikeys", adminToken, body)
	return a.str("id"), a.str("token")
}

// forged is a code of stampseal's shape (prefix, valid Base45) whose
// content is made up.
func forged(i int) string { return "SS1:" + strings.Repeat("0", 42) + fmt.Sprint(i%10) + "0" }

func TestOneKeyRotatingLabelsIsThrottledAndAlertedOnce(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	_, honest := s.registerKey(sh, "till 2", "")
	_, hcode := s.coupon(sh, 1)
	throttled := 0
	for i := range 40 {
		a := s.do("POST", "/v1/verify", sh.register, map[string]any{"code": forged(i), "register": fmt.Sprintf("till-%d", i)})
		if a.status == 429 {
			throttled++
		}
	}
	if throttled == 0 {
		t.Fatal("40 guesses from one key under 40 labels were never throttled")
	}
	alerts := s.must(200, "GET", "/v1/alerts?status=open&kind=guessing", sh.auditor, nil).get("alerts").([]any)
	if len(alerts) != 1 {
		t.Fatalf("guessing alerts = %d, want one for the one key", len(alerts))
	}
	// The honest till behind the same address, and naming itself like the
	// abuser's labels, still redeems.
	s.must(200, "POST", "/v1/redeem", honest, map[string]any{"code": hcode, "register": "till-3", "idempotency_key": "sale-1"})

	// A customer with a real card at the abused till is still served.
	s.must(200, "POST", "/v1/verify", sh.register, map[string]any{"code": hcode})
	if a := s.do("POST", "/v1/verify", sh.register, map[string]any{"code": forged(3)}); a.status != 429 {
		t.Errorf("a made-up code from the throttled key = %d, want 429", a.status)
	}

	// An auditor lifts the throttle; the key works again at once.
	abuserID := s.must(200, "GET", "/v1/alerts?status=open&kind=guessing", sh.auditor, nil).str("alerts", "0", "evidence", "api_keys", "0")
	if abuserID == "" {
		t.Fatal("the guessing alert names no API key")
	}
	lift := s.must(200, "POST", "/v1/throttles/"+abuserID+"/lift", sh.auditor, nil)
	if lift.get("lifted") != true {
		t.Errorf("lift = %s, want lifted true", lift.raw)
	}
	s.must(200, "POST", "/v1/verify", sh.register, map[string]any{"code": forged(3)})
	other := s.shop("bakery-2")
	if a := s.do("POST", "/v1/throttles/"+abuserID+"/lift", other.register, nil); a.status != 403 {
		t.Errorf("a register lifting a throttle = %d, want 403", a.status)
	}
}

func TestResolveWithLiftThrottleAndVerdict(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	for i := range 25 {
		s.do("POST", "/v1/verify", sh.register, map[string]any{"code": forged(i)})
	}
	if a := s.do("POST", "/v1/verify", sh.register, map[string]any{"code": forged(1)}); a.status != 429 {
		t.Fatalf("after 25 made-up codes verify = %d, want 429", a.status)
	}
	id := s.must(200, "GET", "/v1/alerts?status=open&kind=guessing", sh.auditor, nil).str("alerts", "0", "id")
	s.must(400, "POST", "/v1/alerts/"+id+"/resolve", sh.auditor, map[string]any{"note": "x", "verdict": "maybe"})
	res := s.must(200, "POST", "/v1/alerts/"+id+"/resolve", sh.auditor, map[string]any{"note": "scanner test", "verdict": "false_positive", "lift_throttle": true})
	if res.str("resolution", "verdict") != "false_positive" || res.get("resolution", "throttle_lifted") != true {
		t.Errorf("resolve = %s", res.raw)
	}
	if a := s.do("POST", "/v1/verify", sh.register, map[string]any{"code": forged(1)}); a.status != 200 {
		t.Errorf("verify after the throttle was lifted on resolve = %d %s, want 200", a.status, a.raw)
	}
	st := s.must(200, "GET", "/v1/alerts/stats", sh.auditor, nil)
	if st.get("alerts") == nil || st.get("detectors") == nil || st.get("alerts_per_day") == nil {
		t.Errorf("stats = %s", st.raw)
	}
}

func TestMalformedScansNeverLockAnHonestTill(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	_, code := s.coupon(sh, 1)
	for i := range 60 {
		s.do("POST", "/v1/verify", sh.register, map[string]any{"code": fmt.Sprintf("4006381333931-%d", i)}) // product barcodes
	}
	s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "idempotency_key": "sale-1"})
	for _, a := range s.must(200, "GET", "/v1/alerts?status=open", sh.auditor, nil).get("alerts").([]any) {
		if k := a.(map[string]any)["kind"]; k == "counterfeit" {
			t.Errorf("mis-scans raised %v", k)
		}
	}
}

func TestShopsAndImpossibleTravel(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.must(201, "POST", "/v1/shops", adminToken, map[string]any{"merchant": sh.id, "id": "north", "name": "North", "location": map[string]any{"lat": 52.55, "lon": 13.40}})
	s.must(201, "POST", "/v1/shops", sh.admin, map[string]any{"merchant": sh.id, "id": "south", "name": "South", "location": map[string]any{"lat": 52.40, "lon": 13.40}})
	s.must(409, "POST", "/v1/shops", sh.admin, map[string]any{"merchant": sh.id, "id": "south", "name": "South", "location": map[string]any{"lat": 52.40, "lon": 13.40}})
	s.must(403, "POST", "/v1/shops", sh.auditor, map[string]any{"merchant": sh.id, "id": "east", "name": "East", "location": map[string]any{"lat": 52.5, "lon": 13.5}})
	s.must(400, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": sh.id, "role": "register", "name": "x", "shop": "nowhere"})
	_, north := s.registerKey(sh, "north till", "north")
	_, south := s.registerKey(sh, "south till", "south")
	s.program(sh, "coffee", nil)
	serial, card := s.card(sh, "coffee")
	s.must(200, "POST", "/v1/cards/stamp", north, map[string]any{"card_code": card, "stamps": 1, "idempotency_key": "n1"})
	s.must(200, "POST", "/v1/cards/stamp", south, map[string]any{"card_code": card, "stamps": 1, "idempotency_key": "s1"})
	list := s.must(200, "GET", "/v1/alerts?status=open", sh.auditor, nil)
	if list.str("alerts", "0", "kind") != "cloned_card" || list.str("alerts", "0", "serial") != serial {
		t.Fatalf("alerts = %s, want cloned_card on %s (17 km in no time)", list.raw, serial)
	}
	if shops, _ := list.get("alerts", "0", "evidence", "shops").([]any); len(shops) != 2 {
		t.Errorf("evidence shops = %v, want north and south", shops)
	}
}

func TestStaffCardStampsRaiseInsider(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.program(sh, "coffee", nil)
	serial, card := s.card(sh, "coffee")
	s.must(200, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": card, "stamps": 1, "idempotency_key": "a"})
	if n := len(s.must(200, "GET", "/v1/alerts?status=open", sh.auditor, nil).get("alerts").([]any)); n != 0 {
		t.Fatalf("%d alerts for a customer's stamp, want 0", n)
	}
	s.must(403, "POST", "/v1/credentials/"+serial+"/staff", sh.register, nil)
	s.must(200, "POST", "/v1/credentials/"+serial+"/staff", sh.auditor, map[string]any{"note": "Anna, morning shift"})
	s.must(200, "POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": card, "stamps": 1, "idempotency_key": "b"})
	if k := s.must(200, "GET", "/v1/alerts?status=open", sh.auditor, nil).str("alerts", "0", "kind"); k != "insider" {
		t.Errorf("alert after a staff card's stamp = %q, want insider", k)
	}
}

func TestClaimRetryIsNoReplay(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.program(sh, "coffee", nil)
	_, card := s.card(sh, "coffee")
	p := s.must(201, "POST", "/v1/punches", sh.issuer, map[string]any{"merchant": sh.id, "program": "coffee", "stamps": 1}).str("code")
	first := s.must(200, "POST", "/v1/cards/claim", sh.register, map[string]any{"card_code": card, "punch_code": p, "register": "till-1", "idempotency_key": "sale-7"})
	// The till timed out and sends the claim again.
	again := s.must(200, "POST", "/v1/cards/claim", sh.register, map[string]any{"card_code": card, "punch_code": p, "register": "till-1", "idempotency_key": "sale-7"})
	if again.str("stamps") != first.str("stamps") || again.str("stamps") != "1" {
		t.Errorf("retried claim = %s, want the first answer %s", again.raw, first.raw)
	}
	if n := len(s.must(200, "GET", "/v1/alerts?status=open", sh.auditor, nil).get("alerts").([]any)); n != 0 {
		t.Errorf("%d alerts after a till's retried claim, want none", n)
	}
	// Without the key, a second claim is a replay (at another till label).
	s.must(409, "POST", "/v1/cards/claim", sh.register, map[string]any{"card_code": card, "punch_code": p, "register": "till-2"})
	if k := s.must(200, "GET", "/v1/alerts?status=open", sh.auditor, nil).str("alerts", "0", "kind"); k != "replay" {
		t.Errorf("alert after a second claim = %q, want replay", k)
	}
}

func TestGarbageFromOneKeyUnderManyLabelsIsThrottledButRealCardsPass(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	_, code := s.coupon(sh, 1)
	throttled := 0
	for i := range 40 {
		if a := s.do("POST", "/v1/verify", sh.register, map[string]any{"code": fmt.Sprintf("garbage-%d", i), "register": fmt.Sprintf("till-%d", i)}); a.status == 429 {
			throttled++
		}
	}
	if throttled == 0 {
		t.Error("40 garbage codes from one key under 40 labels were never throttled")
	}
	if n := len(s.must(200, "GET", "/v1/alerts?status=open&kind=guessing", sh.auditor, nil).get("alerts").([]any)); n != 1 {
		t.Errorf("guessing alerts = %d, want 1", n)
	}
	if n := len(s.must(200, "GET", "/v1/alerts?status=open&kind=counterfeit", sh.auditor, nil).get("alerts").([]any)); n != 0 {
		t.Errorf("counterfeit alerts for garbage = %d, want none: a malformed scan is no forgery", n)
	}
	// The same till still redeems a customer's real coupon.
	s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "idempotency_key": "sale-1"})
}
