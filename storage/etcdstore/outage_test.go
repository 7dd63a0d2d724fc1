package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

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
	// The watch lost its leader and went on from where it stopped: it
	// reports the changes, never a nil key (nothing was missed, no cache is
	// dropped), and the mirror kept what it held.
	waitKey := func(want string) {
		t.Helper()
		for {
			select {
			case k := <-keys:
				if k == nil {
					t.Fatal("the watch said anything may have changed; it resumed where it stopped")
				}
				if string(k) == want {
					return
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("watch after recovery: no change of %s", want)
			}
		}
	}
	waitKey("serial")
	if resumed, anew := s.WatchRestarts(); resumed == 0 || anew != 0 {
		t.Errorf("watch restarts: %d resumed, %d anew; want at least 1 resumed, 0 anew", resumed, anew)
	}
	if _, _, held := etcdstore.MirrorHolds(s, storage.Trails, "t1"); !held {
		t.Error("the mirror dropped what it held before the outage")
	}
	if err := s.Update(func(tx storage.Tx) error { return tx.Put(storage.Trails, []byte("t2"), []byte("after")) }); err != nil {
		t.Fatal(err)
	}
	waitMirrored(t, s, storage.Trails, "t2", "after")
}

// A node cut off from the cluster hears, once it is back, what other
// nodes changed meanwhile; only if etcd compacted those changes away does
// its watch say "anything may have changed", and its mirror start anew.
func TestAWatchCutOffResumesOrStartsAnewAfterACompaction(t *testing.T) {
	for _, compact := range []bool{false, true} {
		t.Run(fmt.Sprintf("compacted=%v", compact), func(t *testing.T) {
			c := etcdtest.New(t) // its own cluster: this test stops a member
			open := func(member int) *etcdstore.Store {
				s, err := etcdstore.Open(etcdstore.Config{Endpoints: []string{c.Endpoint(member)}, OpTimeout: time.Second, RetryFor: time.Second})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
			a, b := open(0), open(1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			keys := make(chan []byte, 2000)
			if err := a.Watch(ctx, storage.Blocklist, func(k []byte) { keys <- k }); err != nil {
				t.Fatal(err)
			}
			putAll(t, a, put{storage.Trails, "t1", "before"})
			waitMirrored(t, a, storage.Trails, "t1", "before")

			c.Stop(0) // a's member
			putAll(t, b, put{storage.Blocklist, "serial", "blocked meanwhile"})
			// More revisions than etcd sends a watch that catches up in one
			// response (1,000): the rest must follow.
			const more = 1100
			for i := range more {
				putAll(t, b, put{storage.Trails, fmt.Sprintf("later-%04d", i), "x"})
			}
			putAll(t, b, put{storage.Blocklist, "last", "blocked after them"})
			if compact {
				// Compacted up to a later change: the block's revision is gone.
				putAll(t, b, put{storage.Trails, "t9", "later"})
				cli := c.Client(t)
				resp, err := cli.Get(context.Background(), "any")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := cli.Compact(context.Background(), resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.Restart(0); err != nil {
				t.Fatal(err)
			}
			want := []string{"serial", "last"}
			if compact {
				want = []string{"<nil>"}
			}
			for _, w := range want {
				select {
				case k := <-keys:
					got := string(k)
					if k == nil {
						got = "<nil>"
					}
					if got != w {
						t.Fatalf("compacted=%v: the watch reported %s, want %s", compact, got, w)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("compacted=%v: the watch did not report %s after the member came back", compact, w)
				}
			}
			if !compact {
				waitMirrored(t, a, storage.Trails, fmt.Sprintf("later-%04d", more-1), "x")
			}
			if _, anew := a.WatchRestarts(); (anew == 1) != compact {
				t.Errorf("compacted=%v: the watch started anew %d times", compact, anew)
			}
			_, _, held := etcdstore.MirrorHolds(a, storage.Trails, "t1")
			if held == compact {
				t.Errorf("compacted=%v: the mirror holds what it had before: %v", compact, held)
			}
		})
	}
}
