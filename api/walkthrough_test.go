package api_test

import (
	"strings"
	"testing"
)

// TestFirstRedemptionWalkthrough is the README's curl walkthrough.
func TestFirstRedemptionWalkthrough(t *testing.T) {
	s := newServer(t)
	s.must(201, "POST", "/v1/merchants", adminToken, map[string]any{"id": "bakery-1", "name": "Corner Bakery"})
	s.must(409, "POST", "/v1/merchants", adminToken, map[string]any{"id": "bakery-1", "name": "Corner Bakery"})
	issuer := s.must(201, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": "bakery-1", "role": "issuer", "name": "pos"}).str("token")
	till := s.must(201, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": "bakery-1", "role": "register", "name": "till 1"}).str("token")

	minted := s.must(201, "POST", "/v1/coupons", issuer, map[string]any{"merchant": "bakery-1", "offer": "2 croissants for 1", "valid_for": "168h", "max_uses": 1, "count": 1})
	code, serial := minted.str("coupons", "0", "code"), minted.str("coupons", "0", "serial")
	if !strings.HasPrefix(code, "SS1:") || len(code) >= 200 || minted.str("coupons", "0", "kind") != "coupon" {
		t.Fatalf("minted coupon = %s", minted.raw)
	}

	v := s.must(200, "POST", "/v1/verify", till, map[string]any{"code": code})
	if v.get("valid") != true || v.str("status") != "active" || v.str("serial") != serial || v.str("merchant") != "bakery-1" || v.str("kind") != "coupon" {
		t.Errorf("verify = %s; want valid active coupon %s of bakery-1", v.raw, serial)
	}

	body := map[string]any{"code": code, "register": "till-1", "idempotency_key": "sale-1"}
	first := s.must(200, "POST", "/v1/redeem", till, body)
	if first.get("redeemed") != true || first.str("serial") != serial || first.str("uses_left") != "0" || first.str("redeemed_at") == "" {
		t.Errorf("redeem = %s", first.raw)
	}
	retry := s.must(200, "POST", "/v1/redeem", till, body)
	if string(retry.raw) != string(first.raw) {
		t.Errorf("retry with the same idempotency key = %s; want the first answer %s", retry.raw, first.raw)
	}
	second := s.must(409, "POST", "/v1/redeem", till, map[string]any{"code": code, "register": "till-2", "idempotency_key": "sale-2"})
	if second.str("error", "code") != "already_redeemed" || second.str("error", "register") != "till-1" || second.str("error", "redeemed_at") != first.str("redeemed_at") {
		t.Errorf("second redeem = %s; want already_redeemed by till-1 at %s", second.raw, first.str("redeemed_at"))
	}
	after := s.must(200, "POST", "/v1/verify", till, map[string]any{"code": code})
	if after.get("valid") != false || after.str("status") != "redeemed" {
		t.Errorf("verify after redemption = %s; want status redeemed", after.raw)
	}
	st := s.must(200, "GET", "/v1/credentials/"+serial, till, nil)
	if st.str("status") != "redeemed" || st.str("uses_left") != "0" || st.str("history", "0", "register") != "till-1" {
		t.Errorf("credential status = %s", st.raw)
	}

	m := s.must(200, "GET", "/metrics", "", nil)
	for _, want := range []string{`route="/v1/redeem"`, `stampseal_issued_credentials_total{kind="coupon"} 1`} {
		if !strings.Contains(string(m.raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, secret := range []string{code, serial, issuer, till, adminToken} {
		if strings.Contains(string(m.raw), secret) {
			t.Error("/metrics carries a code, serial or token")
		}
	}
}

func TestRedemptionSurvivesRestart(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	_, code := s.coupon(sh, 1)
	s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": "till-1"})
	s.restart()
	a := s.must(409, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": "till-2"})
	if a.str("error", "code") != "already_redeemed" {
		t.Errorf("after restart: %s", a.raw)
	}
	// API keys survive too: the register key still works (it just did).
}
