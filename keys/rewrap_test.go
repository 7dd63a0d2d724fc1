package keys

import (
	"errors"
	"testing"

	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/storage"
)

func TestRewrapIsAllOrNothing(t *testing.T) {
	r, db, old := newRing(t)
	for _, m := range []string{"bakery-1", "bakery-2"} {
		if err := r.Create(m); err != nil {
			t.Fatal(err)
		}
	}
	secret, err := r.Secret("short-codes")
	if err != nil {
		t.Fatal(err)
	}
	sealed, _ := r.SealCode([]byte{1, 2}, "SS1:CODE")
	text, _ := NewMasterKeyText()
	next, _ := ParseMasterKey(text)

	// A failure late in the transaction leaves everything under the old key.
	boom := errors.New("disk on fire")
	failing := func(tx storage.Tx, reseal func(serial, sealed []byte) ([]byte, error)) (int, error) { return 0, boom }
	if _, err := Rewrap(db, old, next, failing, audit.Operator); !errors.Is(err, boom) {
		t.Fatalf("rewrap with a failing step = %v", err)
	}
	if _, _, err := NewRing(db, old).Sign("bakery-1", []byte("m")); err != nil {
		t.Fatalf("after a failed rewrap the old key no longer signs: %v", err)
	}

	var resealed []byte
	codes := func(tx storage.Tx, reseal func(serial, sealed []byte) ([]byte, error)) (int, error) {
		var err error
		resealed, err = reseal([]byte{1, 2}, sealed)
		return 1, err
	}
	n, err := Rewrap(db, old, next, codes, audit.Operator)
	if err != nil {
		t.Fatal(err)
	}
	if n != (Rewrapped{Keysets: 2, Secrets: 1, Codes: 1}) {
		t.Errorf("rewrapped %+v", n)
	}
	oldRing, newRing := NewRing(db, old), NewRing(db, next)
	for _, m := range []string{"bakery-1", "bakery-2"} {
		if _, _, err := oldRing.Sign(m, []byte("m")); err == nil {
			t.Errorf("the old master key still opens %s's keyset", m)
		}
		if _, _, err := newRing.Sign(m, []byte("m")); err != nil {
			t.Errorf("the new master key does not open %s's keyset: %v", m, err)
		}
	}
	if _, err := oldRing.Secret("short-codes"); err == nil {
		t.Error("the old master key still opens the short-code secret")
	}
	if got, err := newRing.Secret("short-codes"); err != nil || string(got) != string(secret) {
		t.Errorf("the secret under the new key: %v", err)
	}
	if _, err := oldRing.OpenCode([]byte{1, 2}, resealed); err == nil {
		t.Error("the old master key still opens a code")
	}
	if code, err := newRing.OpenCode([]byte{1, 2}, resealed); err != nil || code != "SS1:CODE" {
		t.Errorf("code under the new key: %q %v", code, err)
	}
	if _, err := Rewrap(db, next, next, nil, audit.Operator); !errors.Is(err, ErrSameMasterKey) {
		t.Errorf("rewrap to the same key = %v, want ErrSameMasterKey", err)
	}
}
