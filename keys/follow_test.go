package keys

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stampseal/stampseal/internal/sharedtest"
	"github.com/stampseal/stampseal/storage"
)

// eventually polls until check holds, failing after a few seconds.
func eventually(t *testing.T, what string, check func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !check(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
	}
}

func TestARingOnASharedStoreFollowsOtherNodes(t *testing.T) {
	store := sharedtest.Open(t)
	text, _ := NewMasterKeyText()
	master, _ := ParseMasterKey(text)
	a, b := NewRing(store, master), NewRing(store, master)
	if err := a.Create("bakery-1"); err != nil {
		t.Fatal(err)
	}
	msg := []byte("coupon")
	sig, kid, err := a.Sign("bakery-1", msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify("bakery-1", kid, sig, msg); err != nil {
		t.Fatal(err)
	}
	if len(b.cache) != 0 {
		t.Fatalf("a ring on a shared store caches %d keysets before it follows, want none", len(b.cache))
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if err := b.Follow(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Verify("bakery-1", kid, sig, msg); err != nil || len(b.cache) != 1 {
		t.Fatalf("verify on the following ring = %v with %d keysets cached, want nil and 1", err, len(b.cache))
	}

	if _, err := a.Rotate("bakery-1", true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a key marked compromised on node A refused on node B", func() bool {
		return errors.Is(b.Verify("bakery-1", kid, sig, msg), ErrCompromised)
	})

	// A change the watch missed (a lost connection): the cache keeps the
	// old keyset until the backend says "anything may have changed".
	sig2, kid2, err := a.Sign("bakery-1", msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Verify("bakery-1", kid2, sig2, msg); err != nil {
		t.Fatal(err)
	}
	raw := sharedtest.Wrap(store.Backend) // writes through it reach no watcher of store
	if err := NewRing(raw, master).Retire("bakery-1", kid); err != nil {
		t.Fatal(err)
	}
	if _, err := NewRing(raw, master).Rotate("bakery-1", true); err != nil {
		t.Fatal(err)
	}
	if err := b.Verify("bakery-1", kid2, sig2, msg); err != nil {
		t.Fatalf("before the watch reports anything, node B answers from its cache: %v", err)
	}
	store.Lost(storage.Keysets)
	eventually(t, "after a lost watch node B reads the keyset again", func() bool {
		return errors.Is(b.Verify("bakery-1", kid2, sig2, msg), ErrCompromised)
	})

	stop()
	eventually(t, "a ring that stopped following caches nothing", func() bool {
		b.Verify("bakery-1", kid2, sig2, msg)
		b.mu.RLock()
		defer b.mu.RUnlock()
		return len(b.cache) == 0
	})
}
