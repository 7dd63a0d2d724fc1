package etcdstore_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/storage/etcdstore"
)

// queue runs each fn as an Update of s while s's Txns are held, waits
// until all of them wait for a Txn, and returns a wait for their results.
func queue(t *testing.T, s *etcdstore.Store, fns ...func(storage.Tx) error) (release func(), wait func() []error) {
	t.Helper()
	release = etcdstore.HoldCommits(s)
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = s.Update(fn) })
	}
	for deadline := time.Now().Add(10 * time.Second); etcdstore.QueuedCommits(s) < len(fns); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d transactions queued", etcdstore.QueuedCommits(s), len(fns))
		}
	}
	return release, func() []error { wg.Wait(); return errs }
}

func putKey(key string) func(storage.Tx) error {
	return func(tx storage.Tx) error { return tx.Put(storage.Credentials, []byte(key), []byte("v-"+key)) }
}

// putKeyReading puts key after reading common, as redemptions read a
// merchant's settings.
func putKeyReading(common, key string) func(storage.Tx) error {
	return func(tx storage.Tx) error {
		tx.Get(storage.Credentials, []byte(common))
		return putKey(key)(tx)
	}
}

// Write transactions of one node that wait for a Txn together share it
// when their keys are disjoint; transactions on a common key never do, so
// that each still reads what the one before it wrote; and a shared Txn
// that fails a compare is sent again one transaction at a time, each
// getting its own answer.
func TestWaitingTransactionsShareATxnOnlyWhenTheyTouchNoCommonKey(t *testing.T) {
	prefix := cluster.Prefix(t)
	a, b := open(t, prefix, 0), open(t, prefix, 1)
	cli := cluster.Client(t)
	modRev := func(key string) int64 {
		t.Helper()
		resp, err := cli.Get(context.Background(), prefix+"/credentials/"+key)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("get %s: %v, %d keys", key, err, len(resp.Kvs))
		}
		return resp.Kvs[0].ModRevision
	}
	txns := func() uint64 { _, n := a.Requests(); return n }

	t.Run("disjoint writes, one key read by all: one Txn", func(t *testing.T) {
		putAll(t, a, put{storage.Credentials, "settings", "s"})
		before := txns()
		var carried []int // what the metrics hear
		var mu sync.Mutex
		a.Observe(etcdstore.Observer{Carried: func(n int) { mu.Lock(); carried = append(carried, n); mu.Unlock() }})
		defer a.Observe(etcdstore.Observer{})
		release, wait := queue(t, a, putKeyReading("settings", "d1"), putKeyReading("settings", "d2"), putKeyReading("settings", "d3"))
		release()
		for i, err := range wait() {
			if err != nil {
				t.Fatalf("transaction %d: %v", i, err)
			}
		}
		if n := txns() - before; n != 1 {
			t.Errorf("3 transactions on disjoint keys sent %d Txns, want 1", n)
		}
		if r1, r2, r3 := modRev("d1"), modRev("d2"), modRev("d3"); r1 != r2 || r2 != r3 {
			t.Errorf("revisions %d, %d, %d: want one", r1, r2, r3)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(carried) != 1 || carried[0] != 3 {
			t.Errorf("the observer heard Txns carrying %v write transactions, want [3]", carried)
		}
	})

	t.Run("one key: exact count", func(t *testing.T) {
		increment := func(tx storage.Tx) error {
			n, _ := strconv.Atoi(string(tx.Get(storage.Credentials, []byte("counter"))))
			return tx.Put(storage.Credentials, []byte("counter"), []byte(strconv.Itoa(n+1)))
		}
		release, wait := queue(t, a, increment, increment, increment)
		release()
		for i, err := range wait() {
			if err != nil {
				t.Fatalf("increment %d: %v", i, err)
			}
		}
		if got := get(t, a, storage.Credentials, "counter"); got != "3" {
			t.Fatalf("counter after 3 increments = %q", got)
		}
	})

	t.Run("each reads what the other writes: never one Txn", func(t *testing.T) {
		// Merged, both would see the other's key absent and both write:
		// a result no order of the two gives.
		ifAbsent := func(read, write string) func(storage.Tx) error {
			return func(tx storage.Tx) error {
				if tx.Get(storage.Credentials, []byte(read)) != nil {
					return nil
				}
				return tx.Put(storage.Credentials, []byte(write), []byte("set"))
			}
		}
		release, wait := queue(t, a, ifAbsent("skew-x", "skew-y"), ifAbsent("skew-y", "skew-x"))
		release()
		for i, err := range wait() {
			if err != nil {
				t.Fatalf("transaction %d: %v", i, err)
			}
		}
		x, y := get(t, a, storage.Credentials, "skew-x"), get(t, a, storage.Credentials, "skew-y")
		if (x == "set") == (y == "set") {
			t.Errorf("skew-x %q, skew-y %q: want exactly one set", x, y)
		}
	})

	t.Run("a stale read splits the shared Txn", func(t *testing.T) {
		putAll(t, a, put{storage.Credentials, "x", "1"})
		old := modRev("x")
		putAll(t, b, put{storage.Credentials, "x", "2"}) // another node
		etcdstore.PlantInMirror(a, storage.Credentials, "x", []byte("1"), old)
		var runs atomic.Int32
		var saw []string
		copyX := func(tx storage.Tx) error {
			runs.Add(1)
			storage.Prefetch(tx, storage.Key{Bucket: storage.Credentials, Key: []byte("x")}) // the mirror's copy, on a first attempt
			saw = append(saw, string(tx.Get(storage.Credentials, []byte("x"))))
			return tx.Put(storage.Credentials, []byte("copy-of-x"), tx.Get(storage.Credentials, []byte("x")))
		}
		before := txns()
		release, wait := queue(t, a, copyX, putKey("s1"), putKey("s2"))
		release()
		for i, err := range wait() {
			if err != nil {
				t.Fatalf("transaction %d: %v", i, err)
			}
		}
		if got := get(t, a, storage.Credentials, "copy-of-x"); got != "2" {
			t.Errorf("copied x = %q after runs that saw %v, want the other node's 2", got, saw)
		}
		for _, k := range []string{"s1", "s2"} {
			if got := get(t, a, storage.Credentials, k); got != "v-"+k {
				t.Errorf("%s = %q: a neighbour of the stale read was lost", k, got)
			}
		}
		// The shared Txn, then each alone (the stale one fails again and
		// runs anew, reading).
		if n, r := txns()-before, runs.Load(); n != 5 || r != 2 {
			t.Errorf("%d Txns and %d runs of the stale transaction; want 5 and 2", n, r)
		}
	})
}

// Many writers on two nodes, over counters both nodes write: shared Txns
// lose nothing and count nothing twice.
func TestConcurrentWritersShareTxnsAndStayExact(t *testing.T) {
	prefix := cluster.Prefix(t)
	nodes := []*etcdstore.Store{open(t, prefix, 0), open(t, prefix, 1)}
	const writers, counters = 100, 5
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			err := nodes[i%2].Update(func(tx storage.Tx) error {
				k := []byte(fmt.Sprintf("counter-%d", i%counters))
				n, _ := strconv.Atoi(string(tx.Get(storage.Credentials, k)))
				if err := tx.Put(storage.Credentials, k, []byte(strconv.Itoa(n+1))); err != nil {
					return err
				}
				return tx.Put(storage.Credentials, []byte(fmt.Sprintf("mark-%d", i)), []byte("x"))
			})
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	for c := range counters {
		if got := get(t, nodes[0], storage.Credentials, fmt.Sprintf("counter-%d", c)); got != strconv.Itoa(writers/counters) {
			t.Errorf("counter-%d = %q, want %d", c, got, writers/counters)
		}
	}
	for i := range writers {
		if got := get(t, nodes[1], storage.Credentials, fmt.Sprintf("mark-%d", i)); got != "x" {
			t.Fatalf("mark-%d = %q: a write was lost", i, got)
		}
	}
	_, ta := nodes[0].Requests()
	_, tb := nodes[1].Requests()
	t.Logf("%d transactions in %d Txns", writers, ta+tb)
}
