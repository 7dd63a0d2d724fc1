package api_test

import (
	"strings"
	"testing"
)

// Short codes share one namespace across merchants: another merchant's
// short code answers exactly as one that does not exist.
func TestAnotherMerchantsShortCodeIsUnknown(t *testing.T) {
	s := newServer(t)
	a, b := s.shop("bakery-a"), s.shop("bakery-b")
	issued := s.must(201, "POST", "/v1/coupons", a.issuer, map[string]any{"merchant": a.id, "offer": "x", "valid_for": "24h"})
	short := issued.str("coupons", "0", "short_code")
	if short == "" {
		t.Fatalf("no short code: %s", issued.raw)
	}
	v := s.must(200, "POST", "/v1/verify", b.register, map[string]any{"short_code": short})
	if v.get("valid") != false || v.str("reason") != "unknown_short_code" || strings.Contains(string(v.raw), a.id) {
		t.Errorf("verify of bakery-a's short code by bakery-b = %s, want unknown_short_code and no trace of bakery-a", v.raw)
	}
	if r := s.do("POST", "/v1/redeem", b.register, map[string]any{"short_code": short}); r.status != 422 || r.str("error", "code") != "unknown_short_code" {
		t.Errorf("redeem of bakery-a's short code by bakery-b = %d %s, want 422 unknown_short_code", r.status, r.raw)
	}
	s.must(200, "POST", "/v1/redeem", a.register, map[string]any{"short_code": short})
}

// Bodies with a name twice, a name in another case or bidi controls are
// refused before anything reads them.
func TestStrictJSONBodies(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	_, code := s.coupon(sh, 1)
	for _, tc := range []struct {
		name, path, token, body, code string
	}{
		{"a name twice", "/v1/redeem", sh.register, `{"code":"` + code + `","register":"till-1","register":"till-2"}`, "invalid_json"},
		{"a name in another case", "/v1/redeem", sh.register, `{"Code":"` + code + `"}`, "unknown_field"},
		{"a bidi override in a key's name", "/v1/apikeys", adminToken, "{\"merchant\":\"bakery-1\",\"role\":\"register\",\"name\":\"till \u202e3\"}", "invalid_request"},
		{"a bidi override in a register label", "/v1/verify", sh.register, "{\"code\":\"" + code + "\",\"register\":\"till\u202e-9\"}", "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if a := s.do("POST", tc.path, tc.token, tc.body); a.status != 400 || a.str("error", "code") != tc.code {
				t.Errorf("got %d %s, want 400 %s", a.status, a.raw, tc.code)
			}
		})
	}
	// Nothing above redeemed the coupon.
	s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": code})
}

// Sizes snap to a few values, so ?size= cannot bypass the barcode cache,
// and one key's renders are bounded.
func TestRendersAreBounded(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	serial, _ := s.coupon(sh, 1)
	base := "/v1/credentials/" + serial + "/barcode.png?symbology=qr&size="
	e1 := s.must(200, "GET", base+"150", sh.issuer, nil).header.Get("ETag")
	e2 := s.must(200, "GET", base+"171", sh.issuer, nil).header.Get("ETag")
	if e1 == "" || e1 != e2 {
		t.Errorf("sizes 150 and 171 rendered apart (ETags %q, %q): want one cached image", e1, e2)
	}
	limited := false
	for i := 0; i < 400 && !limited; i++ {
		a := s.do("GET", base+"300", sh.issuer, nil)
		switch {
		case a.status == 429 && a.str("error", "code") == "rate_limited":
			limited = true
		case a.status != 200:
			t.Fatalf("render %d = %d %s", i, a.status, a.raw)
		}
	}
	if !limited {
		t.Error("400 renders in a row by one key were all served: want a render budget")
	}
	// Another key is not affected.
	s.must(200, "GET", base+"300", sh.admin, nil)
}
