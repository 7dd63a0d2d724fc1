package keys

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/signature"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/stampseal/stampseal/storage"
)

func newRing(t testing.TB) (*Ring, storage.Backend, tink.AEAD) {
	t.Helper()
	db, err := storage.OpenBolt(filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	text, _ := NewMasterKeyText()
	master, err := ParseMasterKey(text)
	if err != nil {
		t.Fatal(err)
	}
	return NewRing(db, master), db, master
}

func TestSignVerifyRotateCompromise(t *testing.T) {
	r, _, _ := newRing(t)
	if err := r.Create("bakery-1"); err != nil {
		t.Fatal(err)
	}
	if err := r.Create("bakery-1"); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create = %v, want ErrExists", err)
	}
	msg := []byte("claims")
	sig1, id1, err := r.Sign("bakery-1", msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify("bakery-1", id1, sig1, msg); err != nil {
		t.Fatalf("fresh signature: %v", err)
	}
	if err := r.Verify("bakery-1", id1, sig1, []byte("claimz")); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("tampered message = %v, want ErrInvalidSignature", err)
	}
	if err := r.Verify("bakery-1", id1+1, sig1, msg); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key id = %v, want ErrUnknownKey", err)
	}
	if err := r.Verify("bakery-9", id1, sig1, msg); !errors.Is(err, ErrUnknownMerchant) {
		t.Errorf("unknown merchant = %v, want ErrUnknownMerchant", err)
	}

	id2, err := r.Rotate("bakery-1", false)
	if err != nil || id2 == id1 {
		t.Fatalf("Rotate = %d, %v; want a new primary", id2, err)
	}
	if err := r.Verify("bakery-1", id1, sig1, msg); err != nil {
		t.Errorf("code under the replaced key after a plain rotation: %v, want valid", err)
	}
	sig2, got, _ := r.Sign("bakery-1", msg)
	if got != id2 {
		t.Errorf("signing key after rotation = %d, want %d", got, id2)
	}

	if _, err := r.Rotate("bakery-1", true); err != nil {
		t.Fatal(err)
	}
	if err := r.Verify("bakery-1", id2, sig2, msg); !errors.Is(err, ErrCompromised) {
		t.Errorf("code under a compromised key = %v, want ErrCompromised", err)
	}
	if err := r.Verify("bakery-1", id1, sig1, msg); err != nil {
		t.Errorf("older key not compromised: %v, want valid", err)
	}
	if err := r.Retire("bakery-1", id1); err != nil {
		t.Fatal(err)
	}
	if err := r.Verify("bakery-1", id1, sig1, msg); !errors.Is(err, ErrRetired) {
		t.Errorf("code under a retired key = %v, want ErrRetired", err)
	}
}

func TestStateSurvivesAReload(t *testing.T) {
	r, db, master := newRing(t)
	r.Create("m")
	msg := []byte("x")
	sig, id, _ := r.Sign("m", msg)
	r.Rotate("m", true)
	fresh := NewRing(db, master)
	if err := fresh.Verify("m", id, sig, msg); !errors.Is(err, ErrCompromised) {
		t.Errorf("compromised state after reload = %v, want ErrCompromised", err)
	}
	wrongText, _ := NewMasterKeyText()
	wrong, _ := ParseMasterKey(wrongText)
	if err := NewRing(db, wrong).Verify("m", id, sig, msg); err == nil {
		t.Error("keyset opened with the wrong master key")
	}
}

func TestNoPrivateKeyMaterialLeaves(t *testing.T) {
	r, db, _ := newRing(t)
	r.Create("m")
	pub, err := r.PublicKeyset("m")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(pub, []byte("ASYMMETRIC_PUBLIC")) || bytes.Contains(pub, []byte("PRIVATE")) {
		t.Errorf("public keyset export is not public-only: %s", pub)
	}
	h, err := keyset.ReadWithNoSecrets(keyset.NewJSONReader(bytes.NewReader(pub)))
	if err != nil {
		t.Fatalf("exported keyset does not read as public: %v", err)
	}
	v, _ := signature.NewVerifier(h)
	sig, _, _ := r.Sign("m", []byte("offline"))
	if err := v.Verify(sig, []byte("offline")); err != nil {
		t.Errorf("offline verification with the exported keyset: %v", err)
	}
	db.View(func(tx storage.Tx) error {
		raw := string(tx.Get(storage.Keysets, []byte("m")))
		if strings.Contains(raw, "Ed25519PrivateKey") || strings.Contains(raw, "PRIVATE") {
			t.Errorf("stored keyset record names private key material in clear: %s", raw)
		}
		return nil
	})
}

// The reference for the verify-path ratio and the choice of algorithm.
func benchmarkVerify(b *testing.B, tmpl func() *keyset.Handle) {
	h := tmpl()
	s, _ := signature.NewSigner(h)
	pub, _ := h.Public()
	v, _ := signature.NewVerifier(pub)
	msg := bytes.Repeat([]byte("c"), 60)
	sig, _ := s.Sign(msg)
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(sig, msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyEd25519(b *testing.B) {
	benchmarkVerify(b, func() *keyset.Handle { h, _ := keyset.NewHandle(signature.ED25519KeyTemplate()); return h })
}

func BenchmarkVerifyECDSAP256(b *testing.B) {
	benchmarkVerify(b, func() *keyset.Handle { h, _ := keyset.NewHandle(signature.ECDSAP256KeyTemplate()); return h })
}

func BenchmarkSignEd25519(b *testing.B) {
	r, _, _ := newRing(b)
	r.Create("m")
	msg := bytes.Repeat([]byte("c"), 60)
	b.ReportAllocs()
	for b.Loop() {
		r.Sign("m", msg)
	}
}

func TestSecretIsStableAndSealed(t *testing.T) {
	r, db, master := newRing(t)
	a, err := r.Secret("short-codes")
	if err != nil || len(a) != 32 {
		t.Fatalf("Secret = %x, %v", a, err)
	}
	b, _ := NewRing(db, master).Secret("short-codes")
	if !bytes.Equal(a, b) {
		t.Error("secret changed between two rings over one store")
	}
	db.View(func(tx storage.Tx) error {
		if bytes.Contains(tx.Get(storage.Meta, []byte("secret:short-codes")), a) {
			t.Error("secret stored in clear")
		}
		return nil
	})
}
