package web

import (
	"fmt"
	"testing"
	"time"

	"github.com/stampseal/stampseal/access"
)

func TestSessions(t *testing.T) {
	now := time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)
	s := newSessions(8*time.Hour, 3, func() time.Time { return now })
	k := access.Key{ID: "key_1", Merchant: "bakery-1", Role: access.Auditor, Name: "Dana", Hash: []byte("secret hash")}

	t.Run("a session holds who signed in, not the key", func(t *testing.T) {
		id, _, _ := s.create(k, "Corner Bakery")
		got, ok := s.get(id)
		if !ok || got.keyID != "key_1" || got.merchant != "bakery-1" || got.keyName != "Dana" || len(got.csrf) < 43 {
			t.Fatalf("got %+v, %v", got, ok)
		}
		if len(id) < 43 {
			t.Errorf("session id %q: want 256 random bits", id)
		}
	})
	t.Run("ids and CSRF tokens differ between sessions", func(t *testing.T) {
		a, sa, _ := s.create(k, "x")
		b, sb, _ := s.create(k, "x")
		if a == b || sa.csrf == sb.csrf {
			t.Fatal("two sessions share an id or a CSRF token")
		}
	})
	t.Run("the table is bounded", func(t *testing.T) {
		for range 10 {
			s.create(k, "x")
		}
		if n := s.len(); n != 3 {
			t.Fatalf("sessions held: got %d, want 3", n)
		}
	})
	t.Run("a session ends after its time", func(t *testing.T) {
		id, _, _ := s.create(k, "x")
		now = now.Add(8*time.Hour - time.Second)
		if _, ok := s.get(id); !ok {
			t.Fatal("session ended early")
		}
		now = now.Add(time.Second)
		if _, ok := s.get(id); ok {
			t.Fatal("session outlived its 8 hours")
		}
	})
	t.Run("a flash message shows once", func(t *testing.T) {
		id, _, _ := s.create(k, "x")
		s.setFlash(id, "done")
		if got, _ := s.get(id); got.flash != "done" {
			t.Fatalf("first read: got %q, want done", got.flash)
		}
		if got, _ := s.get(id); got.flash != "" {
			t.Fatalf("second read: got %q, want nothing", got.flash)
		}
	})
	t.Run("an ended session is gone", func(t *testing.T) {
		id, _, _ := s.create(k, "x")
		s.end(id)
		if _, ok := s.get(id); ok {
			t.Fatal("session survived end")
		}
	})
	t.Run("tokens compare only when equal and not empty", func(t *testing.T) {
		for _, tt := range []struct {
			want, got string
			ok        bool
		}{{"abc", "abc", true}, {"abc", "abd", false}, {"abc", "", false}, {"", "", false}, {"abc", "abcd", false}} {
			if validToken(tt.want, tt.got) != tt.ok {
				t.Errorf("validToken(%q, %q): got %v, want %v", tt.want, tt.got, !tt.ok, tt.ok)
			}
		}
	})
}

// One merchant signing in again and again ends only its own sessions;
// when the table is full of other merchants' live sessions a sign-in is
// refused rather than ending theirs.
func TestSessionsNeverEvictAnotherMerchant(t *testing.T) {
	now := time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)
	s := newSessions(8*time.Hour, 5, func() time.Time { return now })
	a := access.Key{ID: "key_a", Merchant: "bakery-a", Role: access.Auditor}
	idA, _, err := s.create(a, "A")
	if err != nil {
		t.Fatal(err)
	}
	b := access.Key{ID: "key_b", Merchant: "bakery-b", Role: access.Auditor}
	var idsB []string
	for range 50 {
		now = now.Add(time.Second)
		id, _, err := s.create(b, "B")
		if err != nil {
			t.Fatalf("bakery-b signing in again: %v", err)
		}
		idsB = append(idsB, id)
	}
	if _, ok := s.get(idA); !ok {
		t.Fatal("bakery-b's sign-ins ended bakery-a's session")
	}
	if _, ok := s.get(idsB[0]); ok {
		t.Error("bakery-b's oldest session outlived its key's cap")
	}
	if _, ok := s.get(idsB[len(idsB)-1]); !ok {
		t.Error("bakery-b's newest session is gone")
	}
	// Fill the table with other merchants' keys: a newcomer is refused.
	for i := range 5 {
		s.create(access.Key{ID: fmt.Sprint("key_c", i), Merchant: fmt.Sprint("bakery-c", i)}, "C")
	}
	if s.len() > 5 {
		t.Fatalf("table holds %d sessions, want at most 5", s.len())
	}
	if _, _, err := s.create(access.Key{ID: "key_d", Merchant: "bakery-d"}, "D"); err == nil {
		t.Error("a sign-in into a table full of other merchants' sessions succeeded")
	}
}
