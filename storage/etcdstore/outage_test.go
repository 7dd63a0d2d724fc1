package etcdstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stampseal/stampseal/internal/etcdtest"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/storage/etcdstore"
)

// A store whose cluster lost its quorum answers ErrUnavailable (never a
// success it did not write), and works again once the quorum is back,
// with the same client; its watch says "anything may have changed".
func TestLostQuorumIsUnavailableAndRecovers(t *testing.T) {
	c := etcdtest.New(t) // its own cluster: this test stops members
	s, err := etcdstore.Open(etcdstore.Config{Endpoints: c.Endpoints(), OpTimeout: time.Second, RetryFor: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys := make(chan []byte, 100)
	if err := s.Watch(ctx, storage.Blocklist, func(k []byte) { keys <- k }); err != nil {
		t.Fatal(err)
	}
	put := func(v string) error {
		return s.Update(func(tx storage.Tx) error {
			if tx.Get(storage.Blocklist, []byte("serial")) == nil && v == "" {
				return nil
			}
			return tx.Put(storage.Blocklist, []byte("serial"), []byte(v))
		})
	}
	if err := put("before"); err != nil {
		t.Fatal(err)
	}
	if k := <-keys; string(k) != "serial" {
		t.Fatalf("watch saw %q", k)
	}
	if err := s.Update(func(tx storage.Tx) error { return tx.Put(storage.Trails, []byte("t1"), []byte("before")) }); err != nil {
		t.Fatal(err)
	}
	waitMirrored(t, s, storage.Trails, "t1", "before")

	c.Stop(1)
	c.Stop(2)
	if err := put("during"); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Update without a quorum: %v, want ErrUnavailable", err)
	}
	if err := s.View(func(tx storage.Tx) error { tx.Get(storage.Blocklist, []byte("serial")); return nil }); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("View without a quorum: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(context.Background()); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Ping without a quorum: %v, want ErrUnavailable", err)
	}

	if err := c.Restart(1); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(2); err != nil {
		t.Fatal(err)
	}
	// The client reconnects by itself; the first requests may still meet
	// a member that is catching up.
	deadline := time.Now().Add(30 * time.Second)
	for err := put("after"); err != nil; err = put("after") {
		if !errors.Is(err, storage.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("Update after the quorum came back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := get(t, s, storage.Blocklist, "serial"); got != "after" {
		t.Fatalf("value after recovery %q, want after", got)
	}
	// The watch lost its leader: it reports nil (drop the cache), then
	// follows changes again.
	waitFor := func(nilKey bool) {
		t.Helper()
		for {
			select {
			case k := <-keys:
				if (k == nil) == nilKey {
					return
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("watch after recovery: no nil key=%v", nilKey)
			}
		}
	}
	waitFor(true)
	if err := put("again"); err != nil {
		t.Fatal(err)
	}
	waitFor(false)
	// The mirror's watches were lost too: it starts anew, without what it
	// held before, and follows again.
	for _, _, held := etcdstore.MirrorHolds(s, storage.Trails, "t1"); held; _, _, held = etcdstore.MirrorHolds(s, storage.Trails, "t1") {
		if time.Now().After(deadline) {
			t.Fatal("the mirror still holds what it had before the outage")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Update(func(tx storage.Tx) error { return tx.Put(storage.Trails, []byte("t2"), []byte("after")) }); err != nil {
		t.Fatal(err)
	}
	waitMirrored(t, s, storage.Trails, "t2", "after")
}
