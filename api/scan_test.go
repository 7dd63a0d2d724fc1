package api_test

import (
	"fmt"
	"testing"

	cred "github.com/stampseal/stampseal/credential"
)

// TestScannerWhitespaceIsIgnored sends codes as keyboard-wedge scanners and
// pastes do: with CR/LF, tabs and spaces around them.
func TestScannerWhitespaceIsIgnored(t *testing.T) {
	s := newServer(t)
	a := s.shop("bakery-a")
	s.program(a, "coffee", nil)
	around := []string{"%s\r\n", "%s\n", "\t%s\r", "  %s  ", "\r\n%s\t\r\n"}

	for i, f := range around {
		serial, code := s.coupon(a, 1)
		v := s.must(200, "POST", "/v1/verify", a.register, map[string]any{"code": fmt.Sprintf(f, code)})
		if v.get("valid") != true || v.str("serial") != serial {
			t.Errorf("verify of %q-wrapped code = %s", f, v.raw)
		}
		r := s.must(200, "POST", "/v1/redeem", a.register, map[string]any{"code": fmt.Sprintf(f, code), "idempotency_key": fmt.Sprint("sale-", i)})
		if r.get("redeemed") != true {
			t.Errorf("redeem of %q-wrapped code = %s", f, r.raw)
		}
		// A retry arriving without the CR/LF is the same request.
		s.must(200, "POST", "/v1/redeem", a.register, map[string]any{"code": code, "idempotency_key": fmt.Sprint("sale-", i)})
	}

	serial, _ := s.coupon(a, 1)
	sr, _ := cred.ParseSerial(serial)
	short := s.short.Derive(sr[:])
	s.must(200, "POST", "/v1/redeem", a.register, map[string]any{"short_code": " " + short + "\r\n"})

	_, card := s.card(a, "coffee")
	st := s.must(200, "POST", "/v1/cards/stamp", a.register, map[string]any{"card_code": card + "\r\n", "stamps": 1, "idempotency_key": "st-1"})
	punch := s.must(201, "POST", "/v1/punches", a.issuer, map[string]any{"merchant": a.id, "program": "coffee", "stamps": 1, "valid_for": "1h"}).str("code")
	cl := s.must(200, "POST", "/v1/cards/claim", a.register, map[string]any{"card_code": "\t" + card + "\n", "punch_code": punch + "\r\n"})
	if st.str("stamps") != "1" || cl.str("stamps") != "2" {
		t.Errorf("stamp then claim with CR/LF: stamps %s then %s, want 1 then 2", st.str("stamps"), cl.str("stamps"))
	}

	// Whitespace alone is no code; whitespace inside a code still breaks it.
	if got := s.do("POST", "/v1/verify", a.register, map[string]any{"code": " \r\n\t"}); got.status != 400 {
		t.Errorf("a code of whitespace only = %d %s, want 400", got.status, got.raw)
	}
	_, c2 := s.coupon(a, 1)
	broken := c2[:20] + "\r\n" + c2[20:]
	if v := s.must(200, "POST", "/v1/verify", a.register, map[string]any{"code": broken}); v.get("valid") != false || v.str("reason") != "malformed" {
		t.Errorf("a code with CR/LF inside = %s, want malformed", v.raw)
	}
}

// TestIdempotencyKeysBelongToTheirAPIKey: two tills both numbering their
// sales from "sale-1" do not collide; one till reusing its key for another
// request is still refused.
func TestIdempotencyKeysBelongToTheirAPIKey(t *testing.T) {
	s := newServer(t)
	a := s.shop("bakery-a")
	till2 := s.must(201, "POST", "/v1/apikeys", a.admin, map[string]any{"merchant": a.id, "role": "register", "name": "till 2"}).str("token")
	s1, c1 := s.coupon(a, 1)
	s2, c2 := s.coupon(a, 1)
	r1 := s.must(200, "POST", "/v1/redeem", a.register, map[string]any{"code": c1, "register": "till-1", "idempotency_key": "sale-1"})
	r2 := s.must(200, "POST", "/v1/redeem", till2, map[string]any{"code": c2, "register": "till-2", "idempotency_key": "sale-1"})
	if r1.str("serial") != s1 || r2.str("serial") != s2 {
		t.Fatalf("two tills' sale-1: %s and %s", r1.raw, r2.raw)
	}
	// Each till's retry gets its own first answer.
	if again := s.must(200, "POST", "/v1/redeem", till2, map[string]any{"code": c2, "register": "till-2", "idempotency_key": "sale-1"}); again.str("redeemed_at") != r2.str("redeemed_at") {
		t.Errorf("till 2's retry = %s, want its first answer %s", again.raw, r2.raw)
	}
	// Till 2 cannot replay till 1's answer by sending its key and code.
	if got := s.do("POST", "/v1/redeem", till2, map[string]any{"code": c1, "register": "till-2", "idempotency_key": "sale-1"}); got.status == 200 {
		t.Errorf("till 2 sending till 1's code under sale-1 got a success: %s", got.raw)
	}
	// One till reusing sale-1 for another coupon is still refused.
	_, c3 := s.coupon(a, 1)
	if got := s.do("POST", "/v1/redeem", a.register, map[string]any{"code": c3, "register": "till-1", "idempotency_key": "sale-1"}); got.status != 409 || got.str("error", "code") != "idempotency_key_reused" {
		t.Errorf("till 1 reusing sale-1 = %d %s, want 409 idempotency_key_reused", got.status, got.raw)
	}
	// Stamps likewise.
	s.program(a, "coffee", nil)
	_, card1 := s.card(a, "coffee")
	_, card2 := s.card(a, "coffee")
	s.must(200, "POST", "/v1/cards/stamp", a.register, map[string]any{"card_code": card1, "stamps": 1, "idempotency_key": "stamp-1"})
	s.must(200, "POST", "/v1/cards/stamp", till2, map[string]any{"card_code": card2, "stamps": 1, "idempotency_key": "stamp-1"})
}
