package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stampseal/stampseal/credential"
)

// fetchBackup takes a backup over HTTP into a file and returns its path.
func fetchBackup(t *testing.T, p *proc, admin string) string {
	t.Helper()
	return p.fetch(admin, "/v1/admin/backup", "snapshot.db")
}

// A backup, and the database it copies, hold no live code: not its text,
// not its short code, not its signature. Without the master key nothing in
// it can be redeemed. Every kind of code is covered, rewards and
// remembered stamp answers included.
func TestBackupHoldsNoRedeemableCode(t *testing.T) {
	bin := binary(t)
	data := filepath.Join(t.TempDir(), "data")
	const admin = "atrest-test-admin-token-0123456789"
	p := start(t, bin, data, "STAMPSEAL_BOOTSTRAP_TOKEN="+admin)
	ik, rk := p.bakery(admin)
	issuer, till := ik["token"].(string), rk["token"].(string)
	p.call(issuer, "POST", "/v1/programs", map[string]any{"merchant": "bakery-1", "id": "coffee", "stamps_required": 2, "reward": "free coffee", "reward_valid_for": "720h"})

	type live struct{ code, short string }
	var codes []live
	add := func(m map[string]any) {
		c, _ := m["code"].(string)
		s, _ := m["short_code"].(string)
		if c == "" {
			t.Fatalf("no code in %v", m)
		}
		codes = append(codes, live{c, s})
	}
	_, coupons := p.call(issuer, "POST", "/v1/coupons", map[string]any{"merchant": "bakery-1", "offer": "x", "valid_for": "24h", "count": 5})
	for _, c := range coupons["coupons"].([]any) {
		add(c.(map[string]any))
	}
	_, card := p.call(issuer, "POST", "/v1/cards", map[string]any{"merchant": "bakery-1", "program": "coffee"})
	add(card)
	_, punch := p.call(issuer, "POST", "/v1/punches", map[string]any{"merchant": "bakery-1", "program": "coffee", "stamps": 1, "valid_for": "24h"})
	add(punch)
	st, stamped := p.call(till, "POST", "/v1/cards/stamp", map[string]any{"card_code": card["code"], "stamps": 2, "register": "till-1", "idempotency_key": "sale-1"})
	if st != 200 || len(stamped["rewards"].([]any)) != 1 {
		t.Fatalf("stamp = %d %v, want a reward", st, stamped)
	}
	reward := stamped["rewards"].([]any)[0].(map[string]any)
	add(reward)
	// A retry gets the first answer, reward code included, from the sealed record.
	if st, again := p.call(till, "POST", "/v1/cards/stamp", map[string]any{"card_code": card["code"], "stamps": 2, "register": "till-1", "idempotency_key": "sale-1"}); st != 200 ||
		again["rewards"].([]any)[0].(map[string]any)["code"] != reward["code"] {
		t.Errorf("retried stamp = %d %v, want the first answer with the reward's code", st, again)
	}

	snapshot := fetchBackup(t, p, admin)
	raw, _ := os.ReadFile(snapshot)
	for i, c := range codes {
		parsed, err := credential.Parse(c.code)
		if err != nil {
			t.Fatalf("code %d does not parse: %v", i, err)
		}
		switch {
		case bytes.Contains(raw, []byte(c.code)):
			t.Errorf("code %d is in the backup in clear", i)
		case bytes.Contains(raw, parsed.Signature):
			t.Errorf("code %d: its signature is in the backup", i)
		case c.short != "" && bytes.Contains(raw, []byte(c.short)):
			t.Errorf("code %d: its short code is in the backup", i)
		}
	}
	// The codes are still rendered for those allowed to print them.
	if st, _ := p.call(issuer, "GET", "/v1/credentials/"+card["serial"].(string)+"/barcode.svg", nil); st != 200 {
		t.Errorf("barcode of a sealed code = %d, want 200", st)
	}
	if st, res := p.call(till, "POST", "/v1/verify", map[string]any{"short_code": reward["short_code"]}); st != 200 || res["valid"] != true {
		t.Errorf("short code of a sealed reward = %d %v, want valid", st, res)
	}
}

// restore checks the backup's trailer: damage and tampering are refused
// with a clear message, an intact backup is restored.
func TestRestoreChecksTheBackup(t *testing.T) {
	bin := binary(t)
	data := filepath.Join(t.TempDir(), "data")
	const admin = "restore-test-admin-token-0123456789"
	p := start(t, bin, data, "STAMPSEAL_BOOTSTRAP_TOKEN="+admin)
	p.call(admin, "POST", "/v1/merchants", map[string]any{"id": "bakery-1", "name": "Corner Bakery"})
	snapshot := fetchBackup(t, p, admin)
	raw, _ := os.ReadFile(snapshot)
	masterFile := filepath.Join(data, "master.key")

	restore := func(in string, extra ...string) (string, error) {
		dir := filepath.Join(t.TempDir(), "restored")
		out, err := exec.Command(bin, append([]string{"restore", "--data", dir, "--in", in}, extra...)...).CombinedOutput()
		if _, serr := os.Stat(filepath.Join(dir, "stampseal.db")); (serr == nil) != (err == nil) {
			t.Errorf("restore %v: exit %v but database written %v", extra, err, serr == nil)
		}
		return string(out), err
	}
	write := func(b []byte) string {
		path := filepath.Join(t.TempDir(), "altered.db")
		os.WriteFile(path, b, 0o600)
		return path
	}

	if out, err := restore(snapshot, "--master-key-file", masterFile); err != nil {
		t.Fatalf("intact backup: %v %s", err, out)
	}
	damaged := bytes.Clone(raw)
	damaged[len(damaged)/3] ^= 0x40
	if out, err := restore(write(damaged), "--master-key-file", masterFile); err == nil || !strings.Contains(out, "refusing to restore") || !strings.Contains(out, "damaged") {
		t.Errorf("damaged backup: err %v, output %q; want a refusal naming the damage", err, out)
	}
	// A forger who knows the format recomputes the checksum; the MAC, under
	// a key only the master key opens, still gives it away.
	forged := forgeChecksum(t, damaged)
	if out, err := restore(write(forged), "--master-key-file", masterFile); err == nil || !strings.Contains(out, "MAC does not verify") {
		t.Errorf("forged backup: err %v, output %q; want a MAC refusal", err, out)
	}
	legacy := raw[:len(raw)-trailerLen(raw)]
	if out, err := restore(write(legacy)); err == nil || !strings.Contains(out, "--unverified") {
		t.Errorf("backup without a trailer: err %v, output %q; want a refusal that names --unverified", err, out)
	}
	if out, err := restore(write(legacy), "--unverified"); err != nil {
		t.Errorf("backup without a trailer, --unverified: %v %s", err, out)
	}
}

// trailerLen is the length of a sealed backup's trailer (keys/backup.go).
func trailerLen(raw []byte) int {
	n := len(raw)
	keyLen := int(raw[n-20])<<24 | int(raw[n-19])<<16 | int(raw[n-18])<<8 | int(raw[n-17])
	return keyLen + 32 + 32 + 4 + 16
}

// forgeChecksum puts the right SHA-256 of the altered snapshot into its
// trailer, as someone who read the format would.
func forgeChecksum(t *testing.T, raw []byte) []byte {
	t.Helper()
	n := len(raw)
	keyLen := trailerLen(raw) - 84
	snap := n - trailerLen(raw)
	out := bytes.Clone(raw)
	sum := sha256Sum(out[:snap])
	copy(out[snap+keyLen:], sum[:])
	return out
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
