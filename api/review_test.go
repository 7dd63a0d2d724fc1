package api_test

import (
	"testing"
	"time"

	cred "github.com/stampseal/stampseal/credential"
)

func TestReplayRaisesAnAlertThatStaffResolveAndBlock(t *testing.T) {
	s := newServer(t)
	sh, other := s.shop("bakery-1"), s.shop("bakery-2")
	serial, code := s.coupon(sh, 1)
	s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": "till-1", "idempotency_key": "a"})
	// An idempotent retry is not a replay.
	s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": "till-1", "idempotency_key": "a"})
	if n := len(s.must(200, "GET", "/v1/alerts?status=open", sh.auditor, nil).get("alerts").([]any)); n != 0 {
		t.Fatalf("%d alerts after an idempotent retry, want none", n)
	}
	s.must(409, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": "till-2", "idempotency_key": "b"})

	list := s.must(200, "GET", "/v1/alerts?status=open&kind=replay", sh.auditor, nil)
	alerts := list.get("alerts").([]any)
	if len(alerts) != 1 || list.str("alerts", "0", "serial") != serial || list.str("alerts", "0", "merchant") != "bakery-1" ||
		list.str("alerts", "0", "status") != "open" || list.get("alerts", "0", "evidence") == nil {
		t.Fatalf("alerts = %s; want one open replay alert on %s", list.raw, serial)
	}
	if regs, _ := list.get("alerts", "0", "evidence", "registers").([]any); len(regs) != 2 {
		t.Errorf("replay evidence registers = %v, want the first till and the replaying one", regs)
	}
	if bytesContain(list.raw, code) {
		t.Error("the alert list carries the full code")
	}
	id := list.str("alerts", "0", "id")
	if n := len(s.must(200, "GET", "/v1/alerts", other.auditor, nil).get("alerts").([]any)); n != 0 {
		t.Errorf("bakery-2's auditor sees %d alerts, want none of bakery-1's", n)
	}
	s.must(404, "POST", "/v1/alerts/"+id+"/resolve", other.auditor, map[string]any{"note": "not mine"})
	res := s.must(200, "POST", "/v1/alerts/"+id+"/resolve", sh.auditor, map[string]any{"note": "customer tried twice; spoke to them"})
	if res.str("status") != "resolved" {
		t.Errorf("resolve = %s", res.raw)
	}
	if n := len(s.must(200, "GET", "/v1/alerts?status=open", sh.auditor, nil).get("alerts").([]any)); n != 0 {
		t.Errorf("%d open alerts after resolving, want 0", n)
	}

	// Block a card: every later verify says blocked, stamps are refused.
	s.program(sh, "coffee", nil)
	cardSerial, card := s.card(sh, "coffee")
	s.must(404, "POST", "/v1/credentials/"+cardSerial+"/block", other.auditor, map[string]any{"reason": "x"})
	s.must(200, "POST", "/v1/credentials/"+cardSerial+"/block", sh.auditor, map[string]any{"reason": "copied card sold online"})
	v := s.must(200, "POST", "/v1/verify", sh.register, map[string]any{"code": card})
	if v.get("valid") != false || v.str("status") != "blocked" {
		t.Errorf("verify of a blocked card = %s", v.raw)
	}
	if a := s.do("POST", "/v1/cards/stamp", sh.register, map[string]any{"card_code": card, "stamps": 1}); a.status != 422 || a.str("error", "code") != "blocked" {
		t.Errorf("stamping a blocked card = %d %s", a.status, a.raw)
	}
	_, c2 := s.coupon(sh, 1)
	s2 := s.must(200, "POST", "/v1/verify", sh.register, map[string]any{"code": c2}).str("serial")
	s.must(200, "POST", "/v1/credentials/"+s2+"/block", sh.auditor, map[string]any{"reason": "leaked"})
	if a := s.do("POST", "/v1/redeem", sh.register, map[string]any{"code": c2}); a.status != 422 || a.str("error", "code") != "blocked" {
		t.Errorf("redeeming a blocked coupon = %d %s", a.status, a.raw)
	}
}

func TestGuessingThrottlesOneRegisterOnly(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	till2 := s.must(201, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": "bakery-1", "role": "register", "name": "till 2"}).str("token")
	_, code := s.coupon(sh, 1)
	throttled := false
	for i := 0; i < 200 && !throttled; i++ {
		// Not a code at all ('@' is outside Base45): a guess, which the
		// throttle refuses. A flipped bit left some random codes well
		// formed (a forgery, not a guess) at every position tried, and
		// the test failed about one run in twenty.
		bad := []byte(code)
		bad[len(bad)-2-i%50] = '@'
		a := s.do("POST", "/v1/verify", sh.register, map[string]any{"code": string(bad), "register": "till-1"})
		if a.status == 429 {
			throttled = true
			if a.header.Get("Retry-After") == "" || a.str("error", "code") != "throttled" {
				t.Errorf("throttled answer: %s, Retry-After %q", a.raw, a.header.Get("Retry-After"))
			}
		}
	}
	if !throttled {
		t.Fatal("200 invalid codes from one till were never throttled")
	}
	// Both tills share 127.0.0.1, as the tills of a shop share its address:
	// the other till goes on working.
	if v := s.do("POST", "/v1/verify", till2, map[string]any{"code": code, "register": "till-2"}); v.status != 200 || v.get("valid") != true {
		t.Errorf("another till of the shop = %d %s; want 200 valid", v.status, v.raw)
	}
	alerts := s.must(200, "GET", "/v1/alerts?kind=guessing", sh.auditor, nil).get("alerts").([]any)
	if len(alerts) == 0 || len(alerts) > 3 {
		t.Errorf("%d guessing alerts, want one or two (one per incident)", len(alerts))
	}
}

func bytesContain(b []byte, s string) bool {
	return len(s) > 0 && string(b) != "" && contains(string(b), s)
}

func contains(a, b string) bool {
	for i := 0; i+len(b) <= len(a); i++ {
		if a[i:i+len(b)] == b {
			return true
		}
	}
	return false
}

// TestUnissuedSerialMeansALeakedKey signs a code with the merchant's real
// key outside the issuer, as a thief holding the key would.
func TestUnissuedSerialMeansALeakedKey(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	serial, _ := cred.NewSerial()
	c := cred.Claims{Kind: cred.KindCoupon, Merchant: "bakery-1", Serial: serial,
		IssuedAt: time.Now().Add(-time.Minute).Unix(), ValidFor: 3600, Count: 1}
	claims, _ := c.Marshal()
	sig, keyID, err := s.ring.Sign("bakery-1", cred.SigningInput(claims))
	if err != nil {
		t.Fatal(err)
	}
	forged := cred.Encode(claims, sig)
	v := s.must(200, "POST", "/v1/verify", sh.register, map[string]any{"code": forged})
	if v.get("valid") != false || v.str("reason") != "unissued_serial" {
		t.Errorf("verify of a forged code = %s; want invalid, unissued_serial", v.raw)
	}
	if a := s.do("POST", "/v1/redeem", sh.register, map[string]any{"code": forged}); a.status != 422 || a.str("error", "code") != "unissued_serial" {
		t.Errorf("redeem of a forged code = %d %s", a.status, a.raw)
	}
	list := s.must(200, "GET", "/v1/alerts?kind=unissued_serial", sh.auditor, nil)
	if list.str("alerts", "0", "severity") != "critical" || len(list.get("alerts").([]any)) != 1 {
		t.Fatalf("alerts = %s; want one critical unissued_serial alert", list.raw)
	}
	if ids, _ := list.get("alerts", "0", "evidence", "key_ids").([]any); len(ids) != 1 || ids[0] != float64(keyID) {
		t.Errorf("evidence key ids = %v, want [%d]", ids, keyID)
	}

	// Marking the key compromised: its codes fail as revoked and raise
	// compromised_key; codes of the new primary pass.
	_, old := s.coupon(sh, 1)
	s.must(200, "POST", "/v1/merchants/bakery-1/keys/rotate", sh.admin, map[string]any{"compromised": true})
	if v := s.must(200, "POST", "/v1/verify", sh.register, map[string]any{"code": old}); v.str("status") != "revoked" {
		t.Errorf("verify under a compromised key = %s", v.raw)
	}
	if a := s.do("POST", "/v1/redeem", sh.register, map[string]any{"code": old}); a.status != 422 || a.str("error", "code") != "revoked" {
		t.Errorf("redeem under a compromised key = %d %s", a.status, a.raw)
	}
	if n := len(s.must(200, "GET", "/v1/alerts?kind=compromised_key", sh.auditor, nil).get("alerts").([]any)); n != 1 {
		t.Errorf("%d compromised_key alerts, want 1", n)
	}
	_, fresh := s.coupon(sh, 1)
	s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": fresh})
}

func TestIssuerKeyMintingBeyondItsNormIsLimitedAndAlerted(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.program(sh, "coffee", nil)
	limited := 0
	for i := 0; i < 30 && limited == 0; i++ {
		a := s.do("POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": "bakery-1", "offer": "free coffee", "count": 1000})
		if a.status == 429 {
			limited++
			if a.str("error", "code") != "rate_limited" || a.header.Get("Retry-After") == "" {
				t.Errorf("rate-limited answer: %s", a.raw)
			}
		}
	}
	if limited == 0 {
		t.Fatal("30 batches of 1000 coupons were never limited")
	}
	list := s.must(200, "GET", "/v1/alerts?kind=insider", sh.auditor, nil)
	if len(list.get("alerts").([]any)) != 1 {
		t.Errorf("alerts = %s; want one insider alert for the issuer key", list.raw)
	}
	// Another issuer key of the shop is not limited.
	pos2 := s.must(201, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": "bakery-1", "role": "issuer", "name": "pos 2"}).str("token")
	s.must(201, "POST", "/v1/punches", pos2, map[string]any{"merchant": "bakery-1", "program": "coffee", "stamps": 1, "valid_for": "1h"})
}
