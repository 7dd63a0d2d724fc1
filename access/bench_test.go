package access_test

import (
	"path/filepath"
	"testing"

	"github.com/stampseal/stampseal/access"
	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
)

// BenchmarkAuthenticate is the cost every request pays to find its key,
// check revocation and expiry, and (at most once a minute) note last use.
func BenchmarkAuthenticate(b *testing.B) {
	store, err := storage.OpenBolt(filepath.Join(b.TempDir(), "stampseal.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	text, _ := keys.NewMasterKeyText()
	master, _ := keys.ParseMasterKey(text)
	s := access.New(store, keys.NewRing(store, master))
	if _, err := s.CreateMerchant("bakery-1", "Corner Bakery"); err != nil {
		b.Fatal(err)
	}
	_, token, err := s.CreateKey("bakery-1", access.Register, "till 1")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Authenticate(token); err != nil {
			b.Fatal(err)
		}
	}
}
