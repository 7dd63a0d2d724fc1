package api_test

import (
	"testing"
	"time"

	cred "github.com/stampseal/stampseal/credential"
)

// A leaked signing key can sign any claims under a real serial. The
// validity window, kind, program and uses come from the issuance record,
// so such a code is refused as unissued and raises the unissued_serial
// alert instead of reviving an expired coupon or widening one.
func TestClaimsThatDisagreeWithTheRecordAreUnissued(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.program(sh, "coffee", noLimits)
	s.program(sh, "tea", noLimits)
	forge := func(code string, edit func(*cred.Claims)) string {
		t.Helper()
		c, err := cred.Parse(code)
		if err != nil {
			t.Fatal(err)
		}
		claims := c.Claims
		edit(&claims)
		raw, err := claims.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		sig, _, err := s.ring.Sign(sh.id, cred.SigningInput(raw)) // the leaked key
		if err != nil {
			t.Fatal(err)
		}
		return cred.Encode(raw, sig)
	}
	a := s.must(201, "POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": sh.id, "offer": "x", "valid_for": "1h", "max_uses": 1, "count": 4})
	coupon := func(i int) (string, string) {
		return a.str("coupons", string(rune('0'+i)), "serial"), a.str("coupons", string(rune('0'+i)), "code")
	}
	_, card := s.card(sh, "coffee")
	cases := []struct {
		name string
		code string
	}{
		{"a coupon whose window was stretched to ten years", forge(func() string { _, c := coupon(0); return c }(), func(c *cred.Claims) {
			c.ValidFor = int64(10 * 365 * 24 * time.Hour / time.Second)
		})},
		{"a coupon moved to a later issue time (an expired one revived)", forge(func() string { _, c := coupon(1); return c }(), func(c *cred.Claims) {
			c.IssuedAt += 30 * 24 * 3600
		})},
		{"a coupon with more uses than issued", forge(func() string { _, c := coupon(2); return c }(), func(c *cred.Claims) { c.Count = 50 })},
		{"a card moved to another program", forge(card, func(c *cred.Claims) { c.Program = "tea" })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := s.must(200, "POST", "/v1/verify", sh.register, map[string]any{"code": tc.code})
			if v.get("valid") != false || v.str("reason") != "unissued_serial" {
				t.Errorf("verify = %s, want valid false, unissued_serial", v.raw)
			}
		})
	}
	if r := s.do("POST", "/v1/redeem", sh.register, map[string]any{"code": cases[0].code}); r.status != 422 || r.str("error", "code") != "unissued_serial" {
		t.Errorf("redeem of a stretched coupon = %d %s, want 422 unissued_serial", r.status, r.raw)
	}
	stretched, _ := coupon(0)
	alerts := s.must(200, "GET", "/v1/alerts?kind=unissued_serial", sh.auditor, nil)
	found := false
	for _, al := range alerts.get("alerts").([]any) {
		if al.(map[string]any)["serial"] == stretched {
			found = true
		}
	}
	if !found {
		t.Errorf("no unissued_serial alert for the stretched coupon %s: %s", stretched, alerts.raw)
	}
	// The genuine codes still pass.
	_, genuine := coupon(3)
	if v := s.must(200, "POST", "/v1/verify", sh.register, map[string]any{"code": genuine}); v.get("valid") != true {
		t.Errorf("a genuine coupon = %s, want valid", v.raw)
	}
	if v := s.must(200, "POST", "/v1/verify", sh.register, map[string]any{"code": card}); v.get("valid") != true {
		t.Errorf("a genuine card = %s, want valid", v.raw)
	}
}
