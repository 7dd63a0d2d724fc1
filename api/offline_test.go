package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSnapshotCarriesKeysBlocklistAndPolicyWithETag(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	s.must(201, "POST", "/v1/programs", sh.issuer, map[string]any{"merchant": sh.id, "id": "coffee", "stamps_required": 3,
		"reward": "free coffee", "offline": map[string]any{"allowed": false, "max_offline": "2h"}})
	minted := s.must(201, "POST", "/v1/coupons", sh.issuer, map[string]any{"merchant": sh.id, "offer": "cake", "valid_for": "24h",
		"max_uses": 1, "count": 2, "offline": map[string]any{"allowed": true, "max_offline": "30m"}})

	first := s.must(200, "GET", "/v1/registers/snapshot", sh.register, nil)
	etag := first.header.Get("ETag")
	if etag == "" {
		t.Fatal("snapshot has no ETag")
	}
	if got := first.str("policy", "programs", "coffee", "allowed"); got != "false" {
		t.Errorf("program policy allowed = %s, want false", got)
	}
	if got := first.str("policy", "batches", "0", "policy", "max_offline"); got != "30m0s" {
		t.Errorf("batch max_offline = %s, want 30m0s", got)
	}
	if got := first.str("policy", "batches", "0", "serials", "1"); got != minted.str("coupons", "1", "serial") {
		t.Errorf("batch lists %s, want the second coupon %s", got, minted.str("coupons", "1", "serial"))
	}
	if first.str("public_keyset") == "" || first.str("keys", "0", "state") != "active" {
		t.Errorf("snapshot keys: %s", first.raw)
	}

	if code := getWithETag(t, s.url+"/v1/registers/snapshot", sh.register, etag); code != http.StatusNotModified {
		t.Errorf("snapshot with its own ETag = %d, want 304", code)
	}

	serial := minted.str("coupons", "0", "serial")
	s.must(200, "POST", "/v1/credentials/"+serial+"/block", sh.auditor, map[string]any{"reason": "stolen"})
	old := first.str("keys", "0", "id")
	s.must(200, "POST", "/v1/merchants/"+sh.id+"/keys/rotate", adminToken, map[string]any{"compromised": true})
	after := s.must(200, "GET", "/v1/registers/snapshot", sh.register, nil)
	if after.header.Get("ETag") == etag {
		t.Error("ETag unchanged after a block and a rotation")
	}
	if got := after.str("blocked", "0"); got != serial {
		t.Errorf("blocked = %v, want [%s]", after.get("blocked"), serial)
	}
	if got := after.str("compromised_key_ids", "0"); got != old {
		t.Errorf("compromised_key_ids = %v, want [%s]", after.get("compromised_key_ids"), old)
	}
	s.must(403, "GET", "/v1/registers/snapshot", sh.issuer, nil)
	s.must(401, "GET", "/v1/registers/snapshot", "", nil)
}

func TestSyncAppliesOnceAndRecordsAConflictWithBothTills(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	till2 := s.must(201, "POST", "/v1/apikeys", adminToken, map[string]any{"merchant": sh.id, "role": "register", "name": "till 2"}).str("token")
	_, code := s.coupon(sh, 1)
	at1 := time.Now().Add(10 * time.Second).UTC() // within the allowed clock skew
	at2 := time.Now().Add(20 * time.Second).UTC()

	op := func(register, key string, at time.Time) map[string]any {
		return map[string]any{"op": "redeem", "code": code, "register": register, "idempotency_key": key, "at": at}
	}
	// Till 2 synced first, though its till time is later: arrival order wins.
	a := s.must(200, "POST", "/v1/sync", till2, map[string]any{"operations": []any{op("till-2", "t2-sale-1", at2)}})
	if got := a.str("results", "0", "status"); got != "applied" {
		t.Fatalf("first sync: %s", a.raw)
	}
	b := s.must(200, "POST", "/v1/sync", sh.register, map[string]any{"operations": []any{op("till-1", "t1-sale-1", at1)}})
	if got := b.str("results", "0", "status"); got != "conflict" {
		t.Fatalf("second till's sync: %s, want conflict", b.raw)
	}
	if b.str("results", "0", "conflict", "first", "register") != "till-2" || b.str("results", "0", "conflict", "second", "register") != "till-1" {
		t.Errorf("conflict sides: %s", b.raw)
	}
	again := s.must(200, "POST", "/v1/sync", sh.register, map[string]any{"operations": []any{op("till-1", "t1-sale-1", at1)}})
	if again.str("results", "0", "status") != "duplicate" || again.str("results", "0", "first_status") != "conflict" {
		t.Errorf("resent conflict: %s, want duplicate of conflict", again.raw)
	}

	s.fraud.Flush()
	alerts := s.must(200, "GET", "/v1/alerts?kind=offline_double_spend", sh.auditor, nil)
	list, _ := alerts.get("alerts").([]any)
	if len(list) != 1 {
		t.Fatalf("offline_double_spend alerts: %s, want one", alerts.raw)
	}
	regs := alerts.str("alerts", "0", "evidence", "registers")
	if !strings.Contains(regs, "till-1") || !strings.Contains(regs, "till-2") {
		t.Errorf("alert registers %s, want both tills", regs)
	}
	times, _ := alerts.get("alerts", "0", "evidence", "times").([]any)
	var got []string
	for _, x := range times {
		got = append(got, x.(string))
	}
	if !slices.Contains(got, at1.Format(time.RFC3339Nano)) || !slices.Contains(got, at2.Format(time.RFC3339Nano)) {
		t.Errorf("alert times %v, want %s and %s", got, at1.Format(time.RFC3339Nano), at2.Format(time.RFC3339Nano))
	}
	losses := s.must(200, "GET", "/v1/merchants/"+sh.id+"/offline/losses", sh.auditor, nil)
	if n := len(losses.get("losses").([]any)); n != 1 || losses.str("losses", "0", "second", "register") != "till-1" {
		t.Errorf("losses: %s, want one, of till-1", losses.raw)
	}
	st := s.must(200, "GET", "/v1/credentials/"+a.str("results", "0", "redemption", "serial"), sh.register, nil)
	if st.str("uses_left") != "0" || len(st.get("history").([]any)) != 1 {
		t.Errorf("ledger after both syncs: %s, want one use", st.raw)
	}
}

func TestSyncBoundsTheTillTime(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	_, code := s.coupon(sh, 1)
	s.program(sh, "coffee", nil)
	_, card := s.card(sh, "coffee")
	future := time.Now().Add(48 * time.Hour).UTC()
	a := s.must(200, "POST", "/v1/sync", sh.register, map[string]any{"operations": []any{
		map[string]any{"op": "stamp", "card_code": card, "stamps": 1, "register": "till-1", "idempotency_key": "s-1", "at": time.Now().UTC()},
	}})
	syncedAt := time.Now()
	b := s.must(200, "POST", "/v1/sync", sh.register, map[string]any{"operations": []any{
		map[string]any{"op": "redeem", "code": code, "register": "till-1", "idempotency_key": "r-1", "at": future},
		map[string]any{"op": "stamp", "card_code": card, "stamps": 1, "register": "till-1", "idempotency_key": "s-0", "at": time.Now().Add(-72 * time.Hour)},
	}})
	if a.str("results", "0", "status") != "applied" || b.str("results", "0", "status") != "applied" || b.str("results", "1", "status") != "applied" {
		t.Fatalf("syncs: %s %s", a.raw, b.raw)
	}
	at, _ := time.Parse(time.RFC3339Nano, b.str("results", "0", "at"))
	if b.str("results", "0", "at_clamped") != "true" || at.After(time.Now().Add(5*time.Minute)) {
		t.Errorf("a till time two days ahead was taken as %s", b.str("results", "0", "at"))
	}
	at, _ = time.Parse(time.RFC3339Nano, b.str("results", "1", "at"))
	if b.str("results", "1", "at_clamped") != "true" || at.Before(syncedAt.Add(-time.Minute)) {
		t.Errorf("a till time before the last sync was taken as %s", b.str("results", "1", "at"))
	}
}

func TestSyncRefusesOversizedBatchesAndBadOperations(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	ops := make([]any, 501)
	for i := range ops {
		ops[i] = map[string]any{"op": "stamp", "card_code": "x", "register": "r", "idempotency_key": "k", "at": time.Now()}
	}
	if a := s.do("POST", "/v1/sync", sh.register, map[string]any{"operations": ops}); a.status != 413 || a.str("error", "code") != "batch_too_large" {
		t.Errorf("501 operations: %d %s, want 413 batch_too_large", a.status, a.raw)
	}
	a := s.must(200, "POST", "/v1/sync", sh.register, map[string]any{"operations": []any{
		map[string]any{"op": "burn", "code": "x", "register": "r", "idempotency_key": "k1", "at": time.Now()},
		map[string]any{"op": "redeem", "code": "SS1:nonsense", "register": "r", "idempotency_key": "k2", "at": time.Now()},
	}})
	if a.str("results", "0", "reason") != "invalid_request" || a.str("results", "1", "status") != "refused" || a.str("results", "1", "reason") != "malformed" {
		t.Errorf("bad operations: %s", a.raw)
	}
	s.must(403, "POST", "/v1/sync", sh.auditor, map[string]any{"operations": []any{}})
	s.must(400, "POST", "/v1/sync", sh.register, map[string]any{"operations": []any{}, "extra": 1})
}

func TestMerchantOfflinePolicy(t *testing.T) {
	s := newServer(t)
	sh := s.shop("bakery-1")
	other := s.shop("bakery-2")
	if a := s.must(200, "GET", "/v1/merchants/"+sh.id+"/offline", sh.auditor, nil); a.str("conflicts") != "honour" {
		t.Errorf("default policy: %s", a.raw)
	}
	s.must(200, "PUT", "/v1/merchants/"+sh.id+"/offline", sh.admin, map[string]any{"conflicts": "refuse", "till_caps": map[string]any{"redemptions": 20, "value": 5000}})
	snap := s.must(200, "GET", "/v1/registers/snapshot", sh.register, nil)
	if snap.str("policy", "conflicts") != "refuse" || snap.str("policy", "till_caps", "redemptions") != "20" {
		t.Errorf("snapshot policy after PUT: %s", snap.raw)
	}
	s.must(400, "PUT", "/v1/merchants/"+sh.id+"/offline", sh.admin, map[string]any{"conflicts": "maybe"})
	s.must(403, "PUT", "/v1/merchants/"+sh.id+"/offline", other.admin, map[string]any{"conflicts": "honour"})
	s.must(403, "PUT", "/v1/merchants/"+sh.id+"/offline", sh.register, map[string]any{"conflicts": "honour"})
	s.must(400, "POST", "/v1/programs", sh.issuer, map[string]any{"merchant": sh.id, "id": "tea", "stamps_required": 3,
		"reward": "tea", "offline": map[string]any{"allowed": true, "max_offline": "forever"}})
}
