package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestEveryAuditedActionAppearsOnceWithItsActor drives each admin and
// auditor action over HTTP and reads the trail back.
func TestEveryAuditedActionAppearsOnceWithItsActor(t *testing.T) {
	s := newServer(t)
	start := time.Now().Add(-time.Second).UTC().Format(time.RFC3339)
	a, b := s.shop("bakery-a"), s.shop("bakery-b")
	s.program(a, "coffee", nil)
	cardSerial, card := s.card(a, "coffee")
	s.must(200, "POST", "/v1/merchants/bakery-a/keys/rotate", a.admin, map[string]any{"compromised": false})
	s.must(200, "POST", "/v1/credentials/"+cardSerial+"/block", a.auditor, map[string]any{"reason": "copied card"})
	s.must(200, "POST", "/v1/credentials/"+cardSerial+"/unblock", a.admin, map[string]any{"reason": "owner showed the original"})
	_, code := s.coupon(a, 1)
	s.must(200, "POST", "/v1/redeem", a.register, map[string]any{"code": code, "register": "till-1", "idempotency_key": "x"})
	s.must(409, "POST", "/v1/redeem", a.register, map[string]any{"code": code, "register": "till-2", "idempotency_key": "y"})
	alert := s.must(200, "GET", "/v1/alerts?kind=replay", a.auditor, nil).str("alerts", "0", "id")
	s.must(200, "POST", "/v1/alerts/"+alert+"/resolve", a.auditor, map[string]any{"note": "spoke to the customer"})
	tillID := s.keyID(a.id, "register of bakery-a")
	s.must(200, "POST", "/v1/apikeys/"+tillID+"/revoke", a.admin, map[string]any{"reason": "till sold"})
	s.must(200, "GET", "/v1/admin/backup", adminToken, nil)
	_ = card

	ids := map[string]string{"admin": s.keyID(a.id, "admin of bakery-a"), "auditor": s.keyID(a.id, "auditor of bakery-a"),
		"issuer": s.keyID(a.id, "issuer of bakery-a"), "global": s.keyID("*", "bootstrap admin")}
	trail := s.must(200, "GET", "/v1/audit?merchant=bakery-a&since="+start, a.auditor, nil)
	events, _ := trail.get("events").([]any)
	count := map[string]int{}
	for i, e := range events {
		e := e.(map[string]any)
		for _, f := range []string{"at", "action", "actor_key_id", "actor_name", "actor_role", "source", "target", "details"} {
			if _, ok := e[f]; !ok {
				t.Errorf("event %d lacks %q: %v", i, f, e)
			}
		}
		count[fmt.Sprint(e["action"], " by ", e["actor_key_id"], " on ", e["target"])]++
		if e["source"] != "127.0.0.1" {
			t.Errorf("event %v: source %v, want the client address", e["action"], e["source"])
		}
	}
	want := []string{
		"merchant_created by " + ids["global"] + " on bakery-a",
		"apikey_created by " + ids["global"] + " on " + ids["admin"],
		"program_created by " + ids["issuer"] + " on coffee",
		"keys_rotated by " + ids["admin"] + " on bakery-a",
		"credential_blocked by " + ids["auditor"] + " on " + cardSerial,
		"credential_unblocked by " + ids["admin"] + " on " + cardSerial,
		"alert_resolved by " + ids["auditor"] + " on " + alert,
		"apikey_revoked by " + ids["admin"] + " on " + tillID,
	}
	for _, w := range want {
		if count[w] != 1 {
			t.Errorf("%q appears %d times in the trail, want once; trail:\n%s", w, count[w], trail.raw)
		}
	}
	// Newest first.
	if first := trail.str("events", "0", "action"); first != "apikey_revoked" {
		t.Errorf("newest event is %q, want apikey_revoked", first)
	}
	if got := trail.str("events", "0", "actor_role"); got != "admin" {
		t.Errorf("actor_role %q, want admin", got)
	}
	// The merchant's trail holds only its own entries.
	if strings.Contains(string(trail.raw), "bakery-b") {
		t.Errorf("bakery-a's trail mentions bakery-b:\n%s", trail.raw)
	}
	// Backups are service-wide: under merchant *, for the all-merchants admin.
	global := s.must(200, "GET", "/v1/audit?merchant=*", adminToken, nil)
	if global.str("events", "0", "action") != "backup_taken" || global.str("events", "0", "actor_key_id") != ids["global"] {
		t.Errorf("service trail = %s; want the backup first", global.raw)
	}
	// limit, and who may read.
	if n := len(s.must(200, "GET", "/v1/audit?merchant=bakery-a&limit=2", a.admin, nil).get("events").([]any)); n != 2 {
		t.Errorf("limit=2 gave %d events", n)
	}
	s.must(200, "GET", "/v1/audit", a.auditor, nil) // its own merchant by default
	till2 := s.must(201, "POST", "/v1/apikeys", a.admin, map[string]any{"merchant": a.id, "role": "register", "name": "till 2"}).str("token")
	for name, tok := range map[string]string{"register": till2, "issuer": a.issuer, "auditor of another merchant": b.auditor} {
		if got := s.do("GET", "/v1/audit?merchant=bakery-a", tok, nil); got.status != 403 {
			t.Errorf("%s reads bakery-a's trail: %d, want 403", name, got.status)
		}
	}
	if got := s.do("GET", "/v1/audit?merchant=*", a.admin, nil); got.status != 403 {
		t.Errorf("merchant admin reads the service trail: %d, want 403", got.status)
	}
	for _, q := range []string{"limit=0", "limit=x", "limit=1001", "since=yesterday"} {
		if got := s.do("GET", "/v1/audit?merchant=bakery-a&"+q, a.admin, nil); got.status != 400 {
			t.Errorf("?%s = %d, want 400", q, got.status)
		}
	}
	// Nothing in the API edits or deletes the trail.
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		if got := s.do(m, "/v1/audit?merchant=bakery-a", adminToken, map[string]any{}); got.status != 405 {
			t.Errorf("%s /v1/audit = %d, want 405", m, got.status)
		}
	}
	// The trail is in the backup: restart from the same file and read it.
	s.restart()
	again := s.must(200, "GET", "/v1/audit?merchant=bakery-a&since="+start, a.admin, nil)
	if n := len(again.get("events").([]any)); n != len(events)+1 { // + the creation of till 2
		t.Errorf("after restart %d events, want %d", n, len(events)+1)
	}
}

func TestBlockThenUnblock(t *testing.T) {
	s := newServer(t)
	a, b := s.shop("bakery-a"), s.shop("bakery-b")
	s.program(a, "coffee", nil)
	serial, card := s.card(a, "coffee")
	s.must(200, "POST", "/v1/credentials/"+serial+"/block", a.auditor, map[string]any{"reason": "copied card"})
	if v := s.must(200, "POST", "/v1/verify", a.register, map[string]any{"code": card}); v.str("status") != "blocked" {
		t.Fatalf("verify after block = %s", v.raw)
	}
	s.must(404, "POST", "/v1/credentials/"+serial+"/unblock", b.auditor, map[string]any{"reason": "not mine"})
	s.must(400, "POST", "/v1/credentials/"+serial+"/unblock", a.auditor, map[string]any{"reason": ""})
	s.must(403, "POST", "/v1/credentials/"+serial+"/unblock", a.register, map[string]any{"reason": "x"})
	s.must(200, "POST", "/v1/credentials/"+serial+"/unblock", a.auditor, map[string]any{"reason": "owner showed the original"})
	v := s.must(200, "POST", "/v1/verify", a.register, map[string]any{"code": card})
	if v.get("valid") != true || v.str("status") != "active" {
		t.Errorf("verify after unblock = %s; want valid, active", v.raw)
	}
	s.must(200, "POST", "/v1/cards/stamp", a.register, map[string]any{"card_code": card, "stamps": 1, "idempotency_key": "s1"})
	// Unblocking a card that is not blocked is not found.
	s.must(404, "POST", "/v1/credentials/"+serial+"/unblock", a.auditor, map[string]any{"reason": "again"})
}
