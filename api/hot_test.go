package api_test

import (
	"strings"
	"testing"
)

// TestRegisterRoutesServedByExactPath: the register's routes, which
// ServeHTTP serves without the router's matching, still answer other
// methods and spellings as the router does, and are counted under their
// route template.
func TestRegisterRoutesServedByExactPath(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	_, code := s.coupon(sh, 1)
	s.must(200, "POST", "/v1/verify", sh.register, map[string]any{"code": code})
	s.must(200, "POST", "/v1/redeem", sh.register, map[string]any{"code": code, "register": "till-1"})
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"PUT", "/v1/redeem", 405, "method_not_allowed"},
		{"GET", "/v1/cards/stamp", 405, "method_not_allowed"},
		{"POST", "/v1/redeem/", 404, "not_found"},
		{"POST", "/V1/redeem", 404, "not_found"},
	} {
		if got := s.do(tc.method, tc.path, sh.register, map[string]any{"code": code}); got.status != tc.status || got.str("error", "code") != tc.code {
			t.Errorf("%s %s = %d %s; want %d %s", tc.method, tc.path, got.status, got.raw, tc.status, tc.code)
		}
	}
	// An issuer key is still refused on a register route.
	if got := s.do("POST", "/v1/verify", sh.issuer, map[string]any{"code": code}); got.status != 403 {
		t.Errorf("an issuer's verify = %d %s; want 403", got.status, got.raw)
	}
	m := s.must(200, "GET", "/metrics", "", nil)
	for _, want := range []string{
		`stampseal_http_request_duration_seconds_count{code="200",method="POST",route="/v1/redeem"} 1`,
		`stampseal_http_request_duration_seconds_count{code="200",method="POST",route="/v1/verify"} 1`,
		`stampseal_http_request_duration_seconds_count{code="403",method="POST",route="/v1/verify"} 1`,
	} {
		if !strings.Contains(string(m.raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
