package access_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
)

func newService(t *testing.T) (*access.Service, storage.Backend) {
	db, err := storage.OpenBolt(filepath.Join(t.TempDir(), "access.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	text, _ := keys.NewMasterKeyText()
	master, _ := keys.ParseMasterKey(text)
	return access.New(db, keys.NewRing(db, master)), db
}

func TestKeysAreShownOnceAndStoredHashed(t *testing.T) {
	s, db := newService(t)
	if _, err := s.CreateMerchant("bakery-1", "Corner Bakery"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateMerchant("bakery-1", "Again"); !errors.Is(err, access.ErrMerchantExists) {
		t.Errorf("second merchant with one id = %v, want ErrMerchantExists", err)
	}
	k, token, err := s.CreateKey("bakery-1", access.Register, "till 3")
	if err != nil || !strings.HasPrefix(token, "ssk_") || len(token) < 40 {
		t.Fatalf("CreateKey = %q, %v", token, err)
	}
	got, err := s.Authenticate(token)
	if err != nil || got.ID != k.ID || got.Role != access.Register || got.Merchant != "bakery-1" {
		t.Errorf("Authenticate = %+v, %v", got, err)
	}
	for _, bad := range []string{"", token + "x", token[:len(token)-1], strings.Repeat("a", 300)} {
		if _, err := s.Authenticate(bad); !errors.Is(err, access.ErrUnauthenticated) {
			t.Errorf("Authenticate(%.10q...) = %v, want ErrUnauthenticated", bad, err)
		}
	}
	db.View(func(tx storage.Tx) error {
		return tx.Scan(storage.APIKeys, nil, func(_, v []byte) error {
			if strings.Contains(string(v), token) || strings.Contains(string(v), token[4:]) {
				t.Error("a token is stored in clear")
			}
			return nil
		})
	})
	if _, _, err := s.CreateKey("nope", access.Issuer, "x"); !errors.Is(err, access.ErrUnknownMerchant) {
		t.Errorf("key for an unknown merchant = %v", err)
	}
	if _, _, err := s.CreateKey("bakery-1", "owner", "x"); !errors.Is(err, access.ErrInvalid) {
		t.Errorf("key with an unknown role = %v", err)
	}
}

func TestBootstrapHappensOnce(t *testing.T) {
	s, _ := newService(t)
	if ok, err := s.Bootstrap("first-token-0123456789"); !ok || err != nil {
		t.Fatalf("Bootstrap = %v, %v", ok, err)
	}
	if ok, _ := s.Bootstrap("second-token-0123456789"); ok {
		t.Error("a second bootstrap created another admin key")
	}
	if _, err := s.Authenticate("second-token-0123456789"); err == nil {
		t.Error("the second bootstrap token works")
	}
	k, err := s.Authenticate("first-token-0123456789")
	if err != nil || !k.Can("any-shop", access.Admin) || k.Can("any-shop", access.Register) {
		t.Errorf("bootstrap key = %+v, %v; want an admin of every merchant", k, err)
	}
	if _, err := s.Bootstrap(""); !errors.Is(err, access.ErrInvalid) {
		t.Errorf("empty bootstrap token = %v, want ErrInvalid", err)
	}
}

func TestScope(t *testing.T) {
	k := access.Key{Merchant: "bakery-1", Role: access.Auditor}
	for _, tc := range []struct {
		merchant string
		roles    []access.Role
		want     bool
	}{
		{"bakery-1", []access.Role{access.Auditor, access.Admin}, true},
		{"bakery-2", []access.Role{access.Auditor}, false},
		{"bakery-1", []access.Role{access.Register}, false},
		{"*", []access.Role{access.Auditor}, false},
	} {
		if got := k.Can(tc.merchant, tc.roles...); got != tc.want {
			t.Errorf("auditor of bakery-1 Can(%s, %v) = %v, want %v", tc.merchant, tc.roles, got, tc.want)
		}
	}
}

// The rules of a key's scope, in one place: a key of one merchant acts on
// that merchant whatever a request names; a key of all merchants acts on
// the merchant the request names, and must name one; only an admin of all
// merchants runs the service.
func TestAKeysScope(t *testing.T) {
	shop := access.Key{Merchant: "bakery-1", Role: access.Admin}
	all := access.Key{Merchant: access.AllMerchants, Role: access.Admin}
	auditor := access.Key{Merchant: access.AllMerchants, Role: access.Auditor}
	for _, tc := range []struct {
		name   string
		key    access.Key
		named  string
		want   string
		wantOK bool
	}{
		{"a shop's key acts on its shop", shop, "", "bakery-1", true},
		{"a shop's key cannot name another shop", shop, "bakery-2", "bakery-1", true},
		{"a key of all merchants acts on the one named", all, "bakery-2", "bakery-2", true},
		{"a key of all merchants must name one", all, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, ok := tc.key.MerchantFor(tc.named); got != tc.want || ok != tc.wantOK {
				t.Errorf("MerchantFor(%q) = %q, %v; want %q, %v", tc.named, got, ok, tc.want, tc.wantOK)
			}
		})
	}
	if shop.ServesAll() || !all.ServesAll() || !auditor.ServesAll() {
		t.Error("ServesAll: want true for the keys of all merchants only")
	}
	if shop.RunsService() || !all.RunsService() || auditor.RunsService() {
		t.Error("RunsService: want true for an admin of all merchants only")
	}
}
