package api_test

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time for the access service, so that expiry and
// last_used_at are tested without waiting.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// everyRoute is one call of each authenticated route, enough to reach
// authentication (bodies need not be valid: the key is checked first).
var everyRoute = []struct{ method, path string }{
	{"POST", "/v1/merchants"}, {"POST", "/v1/apikeys"}, {"GET", "/v1/apikeys?merchant=bakery-a"},
	{"POST", "/v1/apikeys/key_0000/revoke"}, {"POST", "/v1/merchants/bakery-a/keys/rotate"},
	{"GET", "/v1/merchants/bakery-a/keys/public"}, {"GET", "/v1/admin/backup"}, {"GET", "/v1/audit?merchant=bakery-a"},
	{"POST", "/v1/programs"}, {"POST", "/v1/cards"}, {"POST", "/v1/punches"}, {"POST", "/v1/coupons"},
	{"GET", "/v1/credentials/00000000000000000000000000000000/barcode.png"},
	{"POST", "/v1/verify"}, {"POST", "/v1/redeem"}, {"POST", "/v1/cards/stamp"}, {"POST", "/v1/cards/claim"},
	{"GET", "/v1/credentials/00000000000000000000000000000000"}, {"GET", "/v1/alerts"},
	{"POST", "/v1/alerts/x/resolve"}, {"POST", "/v1/credentials/00000000000000000000000000000000/block"},
	{"POST", "/v1/credentials/00000000000000000000000000000000/unblock"},
}

func TestRevokedKeyIsRefusedOnEveryRoute(t *testing.T) {
	s := newServer(t)
	a := s.shop("bakery-a")
	_, code := s.coupon(a, 2)
	s.must(200, "POST", "/v1/redeem", a.register, map[string]any{"code": code, "idempotency_key": "sale-1"})

	id := s.keyID(a.id, "register of bakery-a")
	got := s.must(200, "POST", "/v1/apikeys/"+id+"/revoke", a.admin, map[string]any{"reason": "till stolen"})
	if got.str("apikey", "revoked_at") == "" || got.str("apikey", "revoke_reason") != "till stolen" {
		t.Errorf("revoke answer %s: want revoked_at and the reason", got.raw)
	}
	// The very next request, a retry of an answered idempotency key
	// included, is refused.
	for _, r := range append(everyRoute, struct{ method, path string }{"POST", "/v1/redeem"}) {
		got := s.do(r.method, r.path, a.register, map[string]any{"code": code, "idempotency_key": "sale-1"})
		if got.status != 401 || got.str("error", "code") != "key_revoked" {
			t.Errorf("%s %s with a revoked key = %d %s; want 401 key_revoked", r.method, r.path, got.status, got.raw)
		}
	}
	// Revoking again changes nothing and says so.
	again := s.must(200, "POST", "/v1/apikeys/"+id+"/revoke", a.admin, map[string]any{"reason": "twice"})
	if again.str("apikey", "revoke_reason") != "till stolen" {
		t.Errorf("second revoke replaced the reason: %s", again.raw)
	}
	// A revocation survives a restart.
	s.restart()
	if got := s.do("POST", "/v1/verify", a.register, map[string]any{"code": code}); got.status != 401 || got.str("error", "code") != "key_revoked" {
		t.Errorf("after restart: %d %s; want 401 key_revoked", got.status, got.raw)
	}
}

func TestExpiredKeyIsRefusedOnEveryRoute(t *testing.T) {
	s := newServer(t)
	c := &clock{t: time.Now()}
	s.access.SetClock(c.now)
	a := s.shop("bakery-a")
	created := s.must(201, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": a.id, "role": "register", "name": "temp till", "expires_in": "24h"})
	token := created.str("token")
	if created.str("expires_at") == "" {
		t.Fatalf("create answer %s: want expires_at", created.raw)
	}
	_, code := s.coupon(a, 1)
	s.must(200, "POST", "/v1/verify", token, map[string]any{"code": code})

	c.add(24*time.Hour + time.Second)
	for _, r := range everyRoute {
		got := s.do(r.method, r.path, token, map[string]any{"code": code})
		if got.status != 401 || got.str("error", "code") != "key_expired" {
			t.Errorf("%s %s with an expired key = %d %s; want 401 key_expired", r.method, r.path, got.status, got.raw)
		}
	}
	list := s.must(200, "GET", "/v1/apikeys?merchant=bakery-a", a.admin, nil)
	for _, k := range list.get("apikeys").([]any) {
		k := k.(map[string]any)
		if k["name"] == "temp till" && k["expires_at"] == nil {
			t.Errorf("listed key %v: want expires_at", k)
		}
	}
	for _, bad := range []string{"-1h", "soon", "0s"} {
		got := s.do("POST", "/v1/apikeys", adminToken, map[string]any{"merchant": a.id, "role": "register", "name": "x", "expires_in": bad})
		if got.status != 400 {
			t.Errorf("expires_in %q = %d %s; want 400", bad, got.status, got.raw)
		}
	}
}

func TestListAPIKeys(t *testing.T) {
	s := newServer(t)
	c := &clock{t: time.Now()}
	s.access.SetClock(c.now)
	a, b := s.shop("bakery-a"), s.shop("bakery-b")

	got := s.must(200, "GET", "/v1/apikeys?merchant=bakery-a", a.admin, nil)
	list, _ := got.get("apikeys").([]any)
	if len(list) != 4 {
		t.Fatalf("bakery-a has %d keys listed, want 4: %s", len(list), got.raw)
	}
	for _, tok := range []string{a.admin, a.issuer, a.register, a.auditor, b.admin} {
		if strings.Contains(string(got.raw), tok) {
			t.Errorf("the list shows a token")
		}
	}
	for _, k := range list {
		k := k.(map[string]any)
		for _, f := range []string{"id", "name", "role", "merchant", "created_at", "last_used_at", "expires_at", "revoked_at"} {
			if _, ok := k[f]; !ok {
				t.Errorf("listed key lacks %q: %v", f, k)
			}
		}
		for f := range k {
			if strings.Contains(f, "hash") || strings.Contains(f, "token") {
				t.Errorf("listed key carries %q", f)
			}
		}
		if k["merchant"] != "bakery-a" {
			t.Errorf("bakery-a's list holds a key of %v", k["merchant"])
		}
	}
	// The all-merchants admin lists any merchant; others are refused.
	s.must(200, "GET", "/v1/apikeys?merchant=bakery-b", adminToken, nil)
	for name, tok := range map[string]string{"admin of another merchant": b.admin, "auditor": a.auditor, "register": a.register, "issuer": a.issuer} {
		if got := s.do("GET", "/v1/apikeys?merchant=bakery-a", tok, nil); got.status != 403 {
			t.Errorf("%s lists bakery-a's keys: %d, want 403", name, got.status)
		}
	}

	// last_used_at is written on use, at most once a minute.
	_, code := s.coupon(a, 1)
	s.must(200, "POST", "/v1/verify", a.register, map[string]any{"code": code})
	first := s.lastUsed(a.admin, a.id, "register of bakery-a")
	if first == "" {
		t.Fatal("last_used_at not set after a request")
	}
	c.add(30 * time.Second)
	s.must(200, "POST", "/v1/verify", a.register, map[string]any{"code": code})
	if got := s.lastUsed(a.admin, a.id, "register of bakery-a"); got != first {
		t.Errorf("last_used_at rewritten within a minute: %s then %s", first, got)
	}
	c.add(31 * time.Second)
	s.must(200, "POST", "/v1/verify", a.register, map[string]any{"code": code})
	if got := s.lastUsed(a.admin, a.id, "register of bakery-a"); got == first {
		t.Errorf("last_used_at not rewritten after a minute: still %s", got)
	}
}

func TestLastAdminCannotBeRevoked(t *testing.T) {
	s := newServer(t)
	a := s.shop("bakery-a")
	boot := s.keyID("*", "bootstrap admin")
	got := s.do("POST", "/v1/apikeys/"+boot+"/revoke", adminToken, map[string]any{"reason": "oops"})
	if got.status != 409 || got.str("error", "code") != "last_admin" {
		t.Fatalf("revoking the only all-merchants admin = %d %s; want 409 last_admin", got.status, got.raw)
	}
	// A merchant's admin cannot touch the all-merchants key at all.
	if got := s.do("POST", "/v1/apikeys/"+boot+"/revoke", a.admin, map[string]any{"reason": "x"}); got.status != 403 {
		t.Errorf("merchant admin revoking the all-merchants admin = %d; want 403", got.status)
	}
	// Nor learn which key ids exist elsewhere.
	if got := s.do("POST", "/v1/apikeys/key_doesnotexist/revoke", a.admin, map[string]any{"reason": "x"}); got.status != 403 {
		t.Errorf("merchant admin revoking an unknown key = %d; want 403", got.status)
	}
	if got := s.do("POST", "/v1/apikeys/key_doesnotexist/revoke", adminToken, map[string]any{"reason": "x"}); got.status != 404 {
		t.Errorf("all-merchants admin revoking an unknown key = %d; want 404", got.status)
	}
	// With a second all-merchants admin, the first can go.
	second := s.must(201, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": "*", "role": "admin", "name": "new ops admin"})
	if got := s.do("POST", "/v1/apikeys", a.admin, map[string]any{"merchant": "*", "role": "admin", "name": "sneaky"}); got.status != 403 {
		t.Errorf("merchant admin creating an all-merchants admin = %d; want 403", got.status)
	}
	if got := s.do("POST", "/v1/apikeys", adminToken, map[string]any{"merchant": "*", "role": "register", "name": "x"}); got.status != 400 {
		t.Errorf("all-merchants register key = %d; want 400", got.status)
	}
	s.must(200, "POST", "/v1/apikeys/"+boot+"/revoke", second.str("token"), map[string]any{"reason": "handed over"})
	if got := s.do("GET", "/v1/apikeys?merchant=bakery-a", adminToken, nil); got.status != 401 || got.str("error", "code") != "key_revoked" {
		t.Errorf("old admin after revoke = %d %s; want 401 key_revoked", got.status, got.raw)
	}
	got = s.do("POST", "/v1/apikeys/"+second.str("id")+"/revoke", second.str("token"), map[string]any{"reason": "self"})
	if got.status != 409 || got.str("error", "code") != "last_admin" {
		t.Errorf("revoking the new last admin = %d %s; want 409 last_admin", got.status, got.raw)
	}
}

// keyID finds a key's id by name in the merchant's list.
func (s *server) keyID(merchant, name string) string {
	s.t.Helper()
	got := s.must(200, "GET", "/v1/apikeys?merchant="+merchant, adminToken, nil)
	for _, k := range got.get("apikeys").([]any) {
		if k := k.(map[string]any); k["name"] == name {
			return k["id"].(string)
		}
	}
	s.t.Fatalf("no key named %q in %s", name, got.raw)
	return ""
}

func (s *server) lastUsed(token, merchant, name string) string {
	s.t.Helper()
	got := s.must(200, "GET", "/v1/apikeys?merchant="+merchant, token, nil)
	for _, k := range got.get("apikeys").([]any) {
		if k := k.(map[string]any); k["name"] == name {
			v, _ := k["last_used_at"].(string)
			return v
		}
	}
	s.t.Fatalf("no key named %q", name)
	return ""
}
