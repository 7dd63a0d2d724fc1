package access_test

import (
	"crypto/sha256"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/audit"
	"github.com/stampseal/stampseal/keys"
)

// A key served from the cache is refused from the request after its
// revocation on, and from the instant it expires.
func TestCachedKeysAreRevokedAndExpireAtOnce(t *testing.T) {
	s, _ := newService(t)
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	s.SetClock(func() time.Time { return time.Unix(0, clock.Load()) })
	if _, err := s.CreateMerchant("bakery-1", "Corner Bakery"); err != nil {
		t.Fatal(err)
	}
	k, token, err := s.CreateKey("bakery-1", access.Register, "till 1")
	if err != nil {
		t.Fatal(err)
	}
	_, short, err := s.CreateKeyAs(audit.Operator, access.KeySpec{Merchant: "bakery-1", Role: access.Register, ExpiresIn: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // the first reads the ledger, the others the cache
		if _, err := s.Authenticate(token); err != nil {
			t.Fatalf("Authenticate before revocation: %v", err)
		}
		if _, err := s.Authenticate(short); err != nil {
			t.Fatalf("Authenticate before expiry: %v", err)
		}
	}
	if _, err := s.Revoke(audit.Operator, k.ID, "till stolen"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(token); !errors.Is(err, access.ErrKeyRevoked) {
		t.Errorf("Authenticate of a cached key after Revoke = %v, want ErrKeyRevoked", err)
	}
	clock.Store(now.Add(time.Hour - time.Nanosecond).UnixNano())
	if _, err := s.Authenticate(short); err != nil {
		t.Errorf("Authenticate a nanosecond before expiry = %v", err)
	}
	clock.Store(now.Add(time.Hour).UnixNano())
	if _, err := s.Authenticate(short); !errors.Is(err, access.ErrKeyExpired) {
		t.Errorf("Authenticate of a cached key at its expiry = %v, want ErrKeyExpired", err)
	}
}

// While 100 goroutines authenticate with a key, some of them reading the
// ledger as the revocation commits, no request that starts after Revoke
// returned is let in.
func TestRevocationWinsARaceWithTheCache(t *testing.T) {
	s, _ := newService(t)
	if _, err := s.CreateMerchant("bakery-1", "Corner Bakery"); err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		k, token, err := s.CreateKey("bakery-1", access.Register, "till")
		if err != nil {
			t.Fatal(err)
		}
		var revoked atomic.Bool
		var wg sync.WaitGroup
		var late atomic.Int64
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					after := revoked.Load()
					_, err := s.Authenticate(token)
					if after && err == nil {
						late.Add(1)
					}
					if i%10 == 0 {
						s.ForgetAll() // make some goroutines read the ledger again
					}
				}
			}()
		}
		if _, err := s.Revoke(audit.Operator, k.ID, "round over"); err != nil {
			t.Fatal(err)
		}
		revoked.Store(true)
		wg.Wait()
		if n := late.Load(); n > 0 {
			t.Fatalf("round %d: %d requests that began after Revoke returned were let in", round, n)
		}
		if _, err := s.Authenticate(token); !errors.Is(err, access.ErrKeyRevoked) {
			t.Fatalf("round %d: Authenticate after the race = %v, want ErrKeyRevoked", round, err)
		}
	}
}

// A change made by another node (here a second Service over the same
// ledger, as a fleet member is) reaches this node's cache through
// ForgetStored with the changed record's key, as a storage Watch reports
// it, or through Forget and ForgetAll.
func TestForgetDropsKeysChangedElsewhere(t *testing.T) {
	s, db := newService(t)
	text, _ := keys.NewMasterKeyText()
	master, _ := keys.ParseMasterKey(text)
	other := access.New(db, keys.NewRing(db, master))
	if _, err := s.CreateMerchant("bakery-1", "Corner Bakery"); err != nil {
		t.Fatal(err)
	}
	forgets := map[string]func(k access.Key, token string){
		"ForgetStored":      func(_ access.Key, token string) { h := sha256.Sum256([]byte(token)); s.ForgetStored(h[:]) },
		"ForgetStored(nil)": func(access.Key, string) { s.ForgetStored(nil) },
		"Forget":            func(k access.Key, _ string) { s.Forget(k.ID) },
		"ForgetAll":         func(access.Key, string) { s.ForgetAll() },
	}
	for name, forget := range forgets {
		t.Run(name, func(t *testing.T) {
			k, token, err := s.CreateKey("bakery-1", access.Register, "till")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Authenticate(token); err != nil {
				t.Fatal(err)
			}
			if _, err := other.Revoke(audit.Operator, k.ID, "revoked on another node"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Authenticate(token); err != nil {
				t.Fatalf("cached key before the forget = %v; the test shows nothing if it was not cached", err)
			}
			forget(k, token)
			if _, err := s.Authenticate(token); !errors.Is(err, access.ErrKeyRevoked) {
				t.Errorf("Authenticate after %s = %v, want ErrKeyRevoked", name, err)
			}
		})
	}
}
