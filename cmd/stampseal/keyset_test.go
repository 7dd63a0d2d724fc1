package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// After a key is rotated out as compromised, the public keyset served over
// HTTP marks it, and `stampseal verify --public-keyset` refuses its codes.
func TestExportedKeysetMarksACompromisedKey(t *testing.T) {
	bin := binary(t)
	data := filepath.Join(t.TempDir(), "data")
	const admin = "keyset-test-admin-token-0123456789"
	p := start(t, bin, data, "STAMPSEAL_BOOTSTRAP_TOKEN="+admin)
	ik, _ := p.bakery(admin)
	_, minted := p.call(ik["token"].(string), "POST", "/v1/coupons", map[string]any{"merchant": "bakery-1", "offer": "x", "valid_for": "24h"})
	code := minted["coupons"].([]any)[0].(map[string]any)["code"].(string)
	export := func() string {
		t.Helper()
		return p.fetch(admin, "/v1/merchants/bakery-1/keys/public", "pub.json")
	}
	offline := func(pub string) (string, error) {
		out, err := exec.Command(bin, "verify", "--public-keyset", pub, code).CombinedOutput()
		return string(out), err
	}
	if out, err := offline(export()); err != nil || !strings.HasPrefix(out, "VALID") {
		t.Fatalf("before the compromise: %v %s", err, out)
	}
	if st, _ := p.call(admin, "POST", "/v1/merchants/bakery-1/keys/rotate", map[string]any{"compromised": true}); st != 200 {
		t.Fatalf("rotate: %d", st)
	}
	pub := export()
	raw, _ := os.ReadFile(pub)
	if !strings.Contains(string(raw), `"DISABLED"`) {
		t.Errorf("the export after a compromise does not mark the key:\n%s", raw)
	}
	out, err := offline(pub)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(out, "INVALID") || !strings.Contains(out, "revoked") {
		t.Errorf("offline verify under a compromised key = %v %q; want exit 2, INVALID, revoked", err, out)
	}
}
