// Package testledger opens a real ledger for a package's tests: a bbolt
// file in the test's temporary directory and a key ring under a new master
// key, with signing keysets for the merchants named. Tests of the whole
// service use internal/testserver instead.
package testledger

import (
	"path/filepath"
	"testing"

	"github.com/stampseal/stampseal/keys"
	"github.com/stampseal/stampseal/storage"
)

// Open returns a new ledger and its key ring, with a keyset for each of
// merchants. The ledger is closed when the test ends.
func Open(t testing.TB, merchants ...string) (*storage.Bolt, *keys.Ring) {
	t.Helper()
	db, err := storage.OpenBolt(filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, Ring(t, db, merchants...)
}

// Ring returns a key ring on store under a new master key, with a keyset
// for each of merchants: on any backend (etcd too).
func Ring(t testing.TB, store storage.Backend, merchants ...string) *keys.Ring {
	t.Helper()
	text, err := keys.NewMasterKeyText()
	if err != nil {
		t.Fatal(err)
	}
	master, err := keys.ParseMasterKey(text)
	if err != nil {
		t.Fatal(err)
	}
	ring := keys.NewRing(store, master)
	for _, m := range merchants {
		if err := ring.Create(m); err != nil {
			t.Fatal(err)
		}
	}
	return ring
}
