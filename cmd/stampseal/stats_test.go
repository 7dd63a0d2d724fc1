package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestStatsServedAndRebuilt drives the built binary: figures over HTTP
// while it serves, then the same figures rebuilt by `stats rebuild` from
// the data directory alone after a graceful stop.
func TestStatsServedAndRebuilt(t *testing.T) {
	bin := binary(t)
	data := filepath.Join(t.TempDir(), "data")
	const admin = "stats-test-admin-token-1"
	p := start(t, bin, data, "STAMPSEAL_BOOTSTRAP_TOKEN="+admin)
	ik, rk := p.bakery(admin)
	issuer, till := ik["token"].(string), rk["token"].(string)
	_, minted := p.call(issuer, "POST", "/v1/coupons", map[string]any{"merchant": "bakery-1", "offer": "croissant", "count": 3,
		"value": map[string]any{"amount": 150, "currency": "EUR"}})
	used := minted["coupons"].([]any)[0].(map[string]any)["code"].(string)
	p.call(till, "POST", "/v1/redeem", map[string]any{"code": used, "register": "till-1"})
	if st, _ := p.call(till, "POST", "/v1/redeem", map[string]any{"code": used, "register": "till-2"}); st != 409 {
		t.Fatalf("second redemption answered %d", st)
	}
	want := map[string]any{"coupons_issued": 3.0, "coupons_redeemed": 1.0, "redemption_rate": 0.3333,
		"refused": map[string]any{"already_redeemed": 1.0}, "refused_value": []any{map[string]any{"amount": 150.0, "currency": "EUR"}}}
	st, served := p.call(admin, "GET", "/v1/merchants/bakery-1/stats", nil)
	if st != 200 {
		t.Fatalf("stats answered %d", st)
	}
	check := func(where string, got map[string]any) {
		for k, w := range want {
			if g, _ := json.Marshal(got[k]); !bytes.Equal(g, must(json.Marshal(w))) {
				t.Errorf("%s: %s = %s; want %v", where, k, g, w)
			}
		}
	}
	check("served", served)

	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("serve did not stop cleanly: %v\n%s", err, p.log)
	}
	var out, errb bytes.Buffer
	if err := run([]string{"stats", "rebuild", "--data", data}, &out, &errb); err != nil {
		t.Fatalf("stats rebuild: %v %s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "rebuilt from") {
		t.Errorf("stats rebuild said %q", errb.String())
	}
	var rebuilt map[string]any
	if err := json.Unmarshal(out.Bytes(), &rebuilt); err != nil {
		t.Fatalf("stats rebuild printed %q: %v", out.String(), err)
	}
	check("rebuilt", rebuilt)
}
