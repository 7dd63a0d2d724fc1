package api_test

import (
	"fmt"
	"testing"
)

// TestAuthorizationMatrix calls every route with every role of the owning
// merchant, the same roles of another merchant, the all-merchants admin
// and no key, and checks the status of each.
func TestAuthorizationMatrix(t *testing.T) {
	s := newServer(t)
	a, b := s.shop("bakery-a"), s.shop("bakery-b")
	s.must(201, "POST", "/v1/programs", a.issuer, map[string]any{"merchant": "bakery-a", "id": "coffee", "stamps_required": 10, "reward": "free coffee", "reward_valid_for": "720h"})

	// fresh makes what one call consumes, so that every call can succeed.
	type call struct {
		method, path string
		body         func() any
	}
	card := func() string {
		return s.must(201, "POST", "/v1/cards", a.issuer, map[string]any{"merchant": "bakery-a", "program": "coffee"}).str("code")
	}
	punch := func() string {
		return s.must(201, "POST", "/v1/punches", a.issuer, map[string]any{"merchant": "bakery-a", "program": "coffee", "stamps": 1, "valid_for": "72h"}).str("code")
	}
	serial, _ := s.coupon(a, 1)
	n := 0
	routes := map[string]call{
		"create merchant": {"POST", "/v1/merchants", func() any { n++; return map[string]any{"id": fmt.Sprint("m-", n), "name": "M"} }},
		"create api key":  {"POST", "/v1/apikeys", func() any { return map[string]any{"merchant": "bakery-a", "role": "register", "name": "t"} }},
		"rotate keys":     {"POST", "/v1/merchants/bakery-a/keys/rotate", func() any { return map[string]any{"compromised": false} }},
		"public keyset":   {"GET", "/v1/merchants/bakery-a/keys/public", nil},
		"backup":          {"GET", "/v1/admin/backup", nil},
		"create program": {"POST", "/v1/programs", func() any {
			n++
			return map[string]any{"merchant": "bakery-a", "id": fmt.Sprint("p-", n), "stamps_required": 5, "reward": "r", "reward_valid_for": "24h"}
		}},
		"issue card": {"POST", "/v1/cards", func() any { return map[string]any{"merchant": "bakery-a", "program": "coffee"} }},
		"issue punch": {"POST", "/v1/punches", func() any {
			return map[string]any{"merchant": "bakery-a", "program": "coffee", "stamps": 1, "valid_for": "1h"}
		}},
		"issue coupons":  {"POST", "/v1/coupons", func() any { return map[string]any{"merchant": "bakery-a", "offer": "x", "valid_for": "1h", "count": 1} }},
		"barcode":        {"GET", "/v1/credentials/" + serial + "/barcode.png?merchant=bakery-a", nil},
		"verify":         {"POST", "/v1/verify", func() any { _, c := s.coupon(a, 1); return map[string]any{"code": c} }},
		"redeem":         {"POST", "/v1/redeem", func() any { _, c := s.coupon(a, 1); return map[string]any{"code": c} }},
		"stamp":          {"POST", "/v1/cards/stamp", func() any { return map[string]any{"card_code": card(), "stamps": 1} }},
		"claim":          {"POST", "/v1/cards/claim", func() any { return map[string]any{"card_code": card(), "punch_code": punch()} }},
		"credential":     {"GET", "/v1/credentials/" + serial + "?merchant=bakery-a&limit=5", nil},
		"list api keys":  {"GET", "/v1/apikeys?merchant=bakery-a", nil},
		"revoke api key": {"POST", "", func() any { return map[string]any{"reason": "test"} }},
		"audit":          {"GET", "/v1/audit?merchant=bakery-a", nil},
		"unblock":        {"POST", "", func() any { return map[string]any{"reason": "test"} }},
		"alerts":         {"GET", "/v1/alerts?merchant=bakery-a", nil},
		"block":          {"POST", "/v1/credentials/" + serial + "/block?merchant=bakery-a", func() any { return map[string]any{"reason": "test"} }},
	}
	// Routes whose every call needs a fresh target make their path here.
	fresh := map[string]func() string{
		"revoke api key": func() string {
			id := s.must(201, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": "bakery-a", "role": "register", "name": "doomed"}).str("id")
			return "/v1/apikeys/" + id + "/revoke"
		},
		"unblock": func() string {
			sr, _ := s.coupon(a, 1)
			s.must(200, "POST", "/v1/credentials/"+sr+"/block?merchant=bakery-a", adminToken, map[string]any{"reason": "test"})
			return "/v1/credentials/" + sr + "/unblock?merchant=bakery-a"
		},
	}
	// Who may call each route (of bakery-a). "global" is the bootstrap admin,
	// which names the merchant with ?merchant= where the route has no other
	// place for it (merchant-scoped keys ignore the parameter).
	allowed := map[string][]string{
		"create merchant": {"global"},
		"create api key":  {"global", "admin"},
		"rotate keys":     {"global", "admin"},
		"public keyset":   {"global", "admin", "issuer", "register", "auditor"},
		"backup":          {"global"},
		"create program":  {"global", "admin", "issuer"},
		"issue card":      {"global", "admin", "issuer"},
		"issue punch":     {"global", "admin", "issuer"},
		"issue coupons":   {"global", "admin", "issuer"},
		"barcode":         {"global", "admin", "issuer"},
		"verify":          {"register"},
		"redeem":          {"register"},
		"stamp":           {"register"},
		"claim":           {"register"},
		"credential":      {"global", "admin", "register", "auditor"},
		"list api keys":   {"global", "admin"},
		"revoke api key":  {"global", "admin"},
		"audit":           {"global", "admin", "auditor"},
		"unblock":         {"global", "admin", "auditor"},
		"alerts":          {"global", "admin", "auditor"},
		"block":           {"global", "admin", "auditor"},
	}
	// What a key of bakery-b gets for a role that the route allows: register
	// routes carry bakery-a's code, which is a refusal of the code, not of
	// the key; a serial of another merchant is not found.
	foreign := map[string]int{"verify": 200, "redeem": 422, "stamp": 422, "claim": 422, "credential": 404, "barcode": 404, "alerts": 200, "block": 404,
		"audit": 403, "list api keys": 403, "revoke api key": 403, "unblock": 404}
	keys := map[string]string{"global": adminToken, "admin": a.admin, "issuer": a.issuer, "register": a.register, "auditor": a.auditor}
	others := map[string]string{"admin": b.admin, "issuer": b.issuer, "register": b.register, "auditor": b.auditor}
	for name, c := range routes {
		body := func() any {
			if c.body == nil {
				return nil
			}
			return c.body()
		}
		path := func() string {
			if f := fresh[name]; f != nil {
				return f()
			}
			return c.path
		}
		okFor := map[string]bool{}
		for _, r := range allowed[name] {
			okFor[r] = true
		}
		t.Run(name+" without a key is 401", func(t *testing.T) {
			if got := s.do(c.method, path(), "", body()).status; got != 401 {
				t.Errorf("status %d, want 401", got)
			}
		})
		t.Run(name+" with a wrong key is 401", func(t *testing.T) {
			if got := s.do(c.method, path(), "ssk_not-a-key", body()).status; got != 401 {
				t.Errorf("status %d, want 401", got)
			}
		})
		for role, tok := range keys {
			want := 403
			if okFor[role] {
				want = 2
			}
			t.Run(fmt.Sprintf("%s by %s of the merchant", name, role), func(t *testing.T) {
				got := s.do(c.method, path(), tok, body())
				if (want == 2 && got.status/100 != 2) || (want != 2 && got.status != want) {
					t.Errorf("status %d %s, want %v", got.status, got.raw, map[bool]string{true: "2xx", false: "403"}[want == 2])
				}
			})
		}
		for role, tok := range others {
			want := 403
			if okFor[role] {
				want = foreign[name]
				if want == 0 {
					want = 403
				}
			}
			t.Run(fmt.Sprintf("%s by %s of another merchant", name, role), func(t *testing.T) {
				got := s.do(c.method, path(), tok, body())
				if got.status != want {
					t.Errorf("status %d %s, want %d", got.status, got.raw, want)
				}
				if name == "verify" && want == 200 && (got.get("valid") != false || got.str("reason") != "wrong_merchant") {
					t.Errorf("verify of another merchant's code = %s, want valid false, wrong_merchant", got.raw)
				}
			})
		}
	}
}
