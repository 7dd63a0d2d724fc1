package etcdstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampseal/stampseal/internal/etcdtest"
	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/storage/etcdstore"
)

// cluster is shared by the tests of this binary; each takes its own prefix.
var cluster *etcdtest.Cluster

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "etcdstore-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cluster, err = etcdtest.Start(dir, etcdtest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	cluster.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// open opens a store on the shared cluster; endpoint >= 0 points its
// client at that member only (so that nodes reach the cluster through
// different members), -1 at all of them.
func open(t testing.TB, prefix string, endpoint int) *etcdstore.Store {
	t.Helper()
	eps := cluster.Endpoints()
	if endpoint >= 0 {
		eps = []string{cluster.Endpoint(endpoint)}
	}
	s, err := etcdstore.Open(etcdstore.Config{Endpoints: eps, Prefix: prefix})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// put is one key's new value.
type put struct {
	b          storage.Bucket
	key, value string
}

// putAll writes puts on s in one transaction.
func putAll(t testing.TB, s storage.Backend, puts ...put) {
	t.Helper()
	if err := s.Update(func(tx storage.Tx) error {
		for _, p := range puts {
			if err := tx.Put(p.b, []byte(p.key), []byte(p.value)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func get(t testing.TB, s storage.Backend, b storage.Bucket, key string) string {
	t.Helper()
	var v []byte
	if err := s.View(func(tx storage.Tx) error { v = bytes.Clone(tx.Get(b, []byte(key))); return nil }); err != nil {
		t.Fatalf("View: %v", err)
	}
	return string(v)
}

func scan(t testing.TB, tx storage.Tx, b storage.Bucket, prefix string) []string {
	t.Helper()
	var got []string
	if err := tx.Scan(b, []byte(prefix), func(k, v []byte) error {
		got = append(got, string(k)+"="+string(v))
		return nil
	}); err != nil {
		t.Fatalf("Scan: %v", err)
	}
	return got
}

func TestBackendBehavesLikeTheInterfaceSays(t *testing.T) {
	s := open(t, cluster.Prefix(t), -1)
	put := func(tx storage.Tx, k, v string) {
		if err := tx.Put(storage.Programs, []byte(k), []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	var ended []bool
	err := s.Update(func(tx storage.Tx) error {
		ended = nil
		tx.OnEnd(func(c bool) { ended = append(ended, c) })
		put(tx, "m1/b", "2")
		put(tx, "m1/a", "1")
		put(tx, "m2/a", "3")
		put(tx, "m1/c", "x")
		if err := tx.Delete(storage.Programs, []byte("m1/c")); err != nil {
			return err
		}
		if got := string(tx.Get(storage.Programs, []byte("m1/a"))); got != "1" {
			t.Errorf("read of own write = %q, want 1", got)
		}
		if got := tx.Get(storage.Programs, []byte("m1/c")); got != nil {
			t.Errorf("read of own delete = %q, want nil", got)
		}
		if got, want := fmt.Sprint(scan(t, tx, storage.Programs, "m1/")), "[m1/a=1 m1/b=2]"; got != want {
			t.Errorf("scan of own writes = %s, want %s", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if fmt.Sprint(ended) != "[true]" {
		t.Errorf("OnEnd after a commit = %v, want [true]", ended)
	}
	// A second transaction mixes stored keys and its own writes in a scan.
	// Its first attempt may read a member that has not yet applied the
	// first commit (the commit's compares then make it run again), so only
	// what the committed attempt saw is checked.
	var prefixed, whole string
	err = s.Update(func(tx storage.Tx) error {
		put(tx, "m1/aa", "new")
		if err := tx.Delete(storage.Programs, []byte("m1/b")); err != nil {
			return err
		}
		prefixed = fmt.Sprint(scan(t, tx, storage.Programs, "m1/"))
		whole = fmt.Sprint(scan(t, tx, storage.Programs, ""))
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if want := "[m1/a=1 m1/aa=new]"; prefixed != want {
		t.Errorf("scan of stored and own writes = %s, want %s", prefixed, want)
	}
	if want := "[m1/a=1 m1/aa=new m2/a=3]"; whole != want {
		t.Errorf("scan of the bucket = %s, want %s", whole, want)
	}
	if err := s.View(func(tx storage.Tx) error {
		if got, want := fmt.Sprint(scan(t, tx, storage.Programs, "m")), "[m1/a=1 m1/aa=new m2/a=3]"; got != want {
			t.Errorf("committed scan = %s, want %s", got, want)
		}
		if tx.Get(storage.Merchants, []byte("m1/a")) != nil {
			t.Error("a key of one bucket is seen in another")
		}
		if err := tx.Put(storage.Programs, []byte("k"), []byte("v")); err == nil {
			t.Error("Put in View succeeded")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	boom := errors.New("boom")
	ended = nil
	err = s.Update(func(tx storage.Tx) error {
		tx.OnEnd(func(c bool) { ended = append(ended, c) })
		put(tx, "m9/z", "never")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Update returned %v, want the function's error", err)
	}
	if fmt.Sprint(ended) != "[false]" {
		t.Errorf("OnEnd after a failed function = %v, want [false]", ended)
	}
	if got := get(t, s, storage.Programs, "m9/z"); got != "" {
		t.Errorf("write of a failed function was stored: %q", got)
	}

	var seqs []uint64
	for range 3 {
		if err := s.Update(func(tx storage.Tx) error {
			n, err := tx.Sequence(storage.History)
			seqs = append(seqs, n)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if seqs[0] == 0 || seqs[1] <= seqs[0] || seqs[2] <= seqs[1] {
		t.Errorf("sequence values %v: want positive and increasing", seqs)
	}
}

// Many stores of one scan with more keys than one page.
func TestScanPages(t *testing.T) {
	s := open(t, cluster.Prefix(t), -1)
	const n = 1300
	for i := 0; i < n; i += 100 {
		if err := s.Update(func(tx storage.Tx) error {
			for j := i; j < i+100; j++ {
				if err := tx.Put(storage.Audit, fmt.Appendf(nil, "k%05d", j), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := s.View(func(tx storage.Tx) error {
		return tx.Scan(storage.Audit, []byte("k"), func(k, _ []byte) error { got = append(got, string(k)); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != n || got[0] != "k00000" || got[n-1] != fmt.Sprintf("k%05d", n-1) {
		t.Fatalf("scan over %d keys returned %d (%v..)", n, len(got), got[:min(3, len(got))])
	}
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("scan out of order at %d: %s after %s", i, got[i], got[i-1])
		}
	}
	// A scan from a cursor starts there and runs over pages to the
	// bucket's end, with the transaction's own writes in their places.
	rollback := errors.New("roll back")
	var from []string
	err := s.Update(func(tx storage.Tx) error {
		from = nil
		if err := tx.Put(storage.Audit, []byte("k00700x"), []byte("mine")); err != nil {
			return err
		}
		if err := tx.Delete(storage.Audit, []byte("k00701")); err != nil {
			return err
		}
		if err := tx.ScanFrom(storage.Audit, []byte("k00650"), func(k, _ []byte) error { from = append(from, string(k)); return nil }); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if len(from) != n-650 || from[0] != "k00650" || from[len(from)-1] != fmt.Sprintf("k%05d", n-1) ||
		from[50] != "k00700" || from[51] != "k00700x" || from[52] != "k00702" {
		t.Errorf("ScanFrom(k00650) over %d keys: %d keys, %v .. %v", n, len(from), from[:min(3, len(from))], from[max(0, len(from)-3):])
	}
	// Stopping early returns the function's error.
	stop := errors.New("stop")
	seen := 0
	err = s.View(func(tx storage.Tx) error {
		return tx.Scan(storage.Audit, nil, func(_, _ []byte) error { seen++; return stop })
	})
	if !errors.Is(err, stop) || seen != 1 {
		t.Errorf("scan stopped by its function: err %v after %d keys, want stop after 1", err, seen)
	}
}

func TestOneWinnerAmongHundredRacersOnThreeNodes(t *testing.T) {
	prefix := cluster.Prefix(t)
	nodes := []*etcdstore.Store{open(t, prefix, 0), open(t, prefix, 1), open(t, prefix, 2)}
	var conflicts atomic.Int64
	for _, n := range nodes {
		n.Observe(etcdstore.Observer{Conflict: func() { conflicts.Add(1) }})
	}
	key := []byte("coupon-1")
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var won bool
			err := nodes[i%3].Update(func(tx storage.Tx) error {
				won = false
				if tx.Get(storage.Credentials, key) != nil {
					return nil // already used: a refusal, not an error
				}
				won = true
				return tx.Put(storage.Credentials, key, []byte(strconv.Itoa(i)))
			})
			if err != nil {
				t.Errorf("racer %d: %v", i, err)
			}
			if won {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d racers were told they won, want exactly 1", wins.Load())
	}
	t.Logf("%d conflicts retried", conflicts.Load())
}

func TestConcurrentIncrementsOnThreeNodesAreExact(t *testing.T) {
	prefix := cluster.Prefix(t)
	nodes := []*etcdstore.Store{open(t, prefix, 0), open(t, prefix, 1), open(t, prefix, 2)}
	key := []byte("stamps")
	var wg sync.WaitGroup
	const n = 60
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := nodes[i%3].Update(func(tx storage.Tx) error {
				c := 0
				if v := tx.Get(storage.Credentials, key); v != nil {
					c, _ = strconv.Atoi(string(v))
				}
				return tx.Put(storage.Credentials, key, []byte(strconv.Itoa(c+1)))
			})
			if err != nil {
				t.Errorf("increment %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if got := get(t, nodes[0], storage.Credentials, "stamps"); got != strconv.Itoa(n) {
		t.Fatalf("counter after %d concurrent increments on 3 nodes = %s", n, got)
	}
}

// A transaction whose read is overwritten by another node before it
// commits is re-run, and its second run sees the other node's write.
func TestConflictReRunsTheFunction(t *testing.T) {
	prefix := cluster.Prefix(t)
	a, b := open(t, prefix, 0), open(t, prefix, 1)
	var conflicts atomic.Int64
	a.Observe(etcdstore.Observer{Conflict: func() { conflicts.Add(1) }})
	key := []byte("card")
	for _, tc := range []struct {
		name  string
		read  func(tx storage.Tx) string
		other func(tx storage.Tx) error
	}{
		{"a key read is written by another node", func(tx storage.Tx) string { return string(tx.Get(storage.Credentials, key)) },
			func(tx storage.Tx) error { return tx.Put(storage.Credentials, key, []byte("other")) }},
		{"a prefetched key that was got is written by another node", func(tx storage.Tx) string {
			storage.Prefetch(tx, storage.Key{Bucket: storage.Credentials, Key: key})
			return string(tx.Get(storage.Credentials, key))
		}, func(tx storage.Tx) error { return tx.Put(storage.Credentials, key, []byte("other again")) }},
		{"a key is added to a scanned range", func(tx storage.Tx) string { return fmt.Sprint(scan(t, tx, storage.History, "s1/")) },
			func(tx storage.Tx) error { return tx.Put(storage.History, []byte("s1/2"), []byte("other")) }},
		{"a scanned key is deleted", func(tx storage.Tx) string { return fmt.Sprint(scan(t, tx, storage.History, "s1/")) },
			func(tx storage.Tx) error { return tx.Delete(storage.History, []byte("s1/1")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := a.Update(func(tx storage.Tx) error {
				return tx.Put(storage.History, []byte("s1/1"), []byte("first"))
			}); err != nil {
				t.Fatal(err)
			}
			before := conflicts.Load()
			var runs []string
			err := a.Update(func(tx storage.Tx) error {
				runs = append(runs, tc.read(tx))
				if len(runs) == 1 {
					if err := b.Update(tc.other); err != nil {
						t.Fatalf("the other node's write: %v", err)
					}
				}
				return tx.Put(storage.Meta, []byte("decided"), []byte(runs[len(runs)-1]))
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 2 || runs[0] == runs[1] || conflicts.Load() != before+1 {
				t.Fatalf("runs %q with %d conflicts: want 2 runs, the second seeing the other write, and 1 conflict", runs, conflicts.Load()-before)
			}
			if got := get(t, a, storage.Meta, "decided"); got != runs[1] {
				t.Errorf("committed decision %q, want the second run's %q", got, runs[1])
			}
		})
	}
}

// Prefetch reads several keys in one request; Gets then answer from it,
// the transaction's own writes first; a key fetched but never got is not
// checked at commit.
func TestPrefetchReadsManyKeysInOneRequest(t *testing.T) {
	prefix := cluster.Prefix(t)
	a, b := open(t, prefix, 0), open(t, prefix, 1)
	if err := a.Update(func(tx storage.Tx) error {
		for _, k := range []string{"k1", "k2", "k3"} {
			if err := tx.Put(storage.Trails, []byte(k), []byte("v"+k)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	keys := func(names ...string) []storage.Key {
		var out []storage.Key
		for _, n := range names {
			out = append(out, storage.Key{Bucket: storage.Trails, Key: []byte(n)})
		}
		return out
	}
	runs := 0
	var got []string
	err := a.Update(func(tx storage.Tx) error {
		runs++
		if err := tx.Put(storage.Trails, []byte("k1"), []byte("mine")); err != nil {
			return err
		}
		reads0, _ := a.Requests()
		storage.Prefetch(tx, keys("k1", "k2", "k3", "absent", "k2")...)
		reads1, _ := a.Requests()
		got = got[:0]
		for _, k := range []string{"k1", "k2", "absent"} {
			got = append(got, string(tx.Get(storage.Trails, []byte(k))))
		}
		reads2, _ := a.Requests()
		if reads1-reads0 != 1 || reads2 != reads1 {
			t.Errorf("prefetch sent %d requests and the Gets after it %d, want 1 and 0", reads1-reads0, reads2-reads1)
		}
		if runs == 1 {
			// k3 was fetched, never got: another node's write to it
			// is no conflict.
			if err := b.Update(func(tx storage.Tx) error { return tx.Put(storage.Trails, []byte("k3"), []byte("other")) }); err != nil {
				t.Fatal(err)
			}
		}
		return tx.Put(storage.Trails, []byte("k4"), []byte("done"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"mine", "vk2", ""}; fmt.Sprint(got) != fmt.Sprint(want) || runs != 1 {
		t.Errorf("got %q in %d runs, want %q in 1", got, runs, want)
	}
	var seen string
	if err := b.View(func(tx storage.Tx) error {
		storage.Prefetch(tx, keys("k3", "k4")...)
		seen = string(tx.Get(storage.Trails, []byte("k3"))) + "," + string(tx.Get(storage.Trails, []byte("k4")))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if seen != "other,done" {
		t.Errorf("a View's prefetch saw %q, want both committed writes", seen)
	}
}

func TestSequenceIsUniqueAcrossNodesAndIncreasingPerNode(t *testing.T) {
	prefix := cluster.Prefix(t)
	seen := map[uint64]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for node := range 3 {
		s, err := etcdstore.Open(etcdstore.Config{Endpoints: []string{cluster.Endpoint(node)}, Prefix: prefix, SeqBlock: 7})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for range 50 {
				var v uint64
				if err := s.Update(func(tx storage.Tx) error {
					var err error
					v, err = tx.Sequence(storage.History)
					return err
				}); err != nil {
					t.Error(err)
					return
				}
				if v <= last {
					t.Errorf("node %d: sequence %d after %d", node, v, last)
				}
				last = v
				mu.Lock()
				if seen[v] {
					t.Errorf("sequence value %d handed out twice", v)
				}
				seen[v] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 150 {
		t.Errorf("%d distinct values, want 150", len(seen))
	}
}

func TestWatchSeesAnotherNodesChange(t *testing.T) {
	prefix := cluster.Prefix(t)
	a, b := open(t, prefix, 0), open(t, prefix, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keys, changes := make(chan string, 10), make(chan string, 10)
	if err := a.Watch(ctx, storage.APIKeys, func(k []byte) { keys <- string(k) }); err != nil {
		t.Fatal(err)
	}
	// WatchValues hands over the new value of a put, nil for a delete.
	if err := a.WatchValues(ctx, storage.APIKeys, func(k, v []byte) { changes <- fmt.Sprintf("%s=%q", k, v) }); err != nil {
		t.Fatal(err)
	}
	putAll(t, b, put{storage.Blocklist, "other-bucket", "x"}, put{storage.APIKeys, "hash-1", "revoked"})
	if err := b.Update(func(tx storage.Tx) error { return tx.Delete(storage.APIKeys, []byte("hash-1")) }); err != nil {
		t.Fatal(err)
	}
	expectReports(t, "watch", keys, "hash-1", "hash-1")
	expectReports(t, "value watch", changes, `hash-1="revoked"`, `hash-1=""`)
}

// expectReports waits for each of wants, in order, on reports.
func expectReports(t *testing.T, what string, reports <-chan string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		select {
		case got := <-reports:
			if got != want {
				t.Fatalf("%s reported %s, want %s", what, got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s saw no change %s", what, want)
		}
	}
}

func TestOpenRefusesAnotherLayout(t *testing.T) {
	prefix := cluster.Prefix(t)
	cli := cluster.Client(t)
	if _, err := cli.Put(context.Background(), prefix+"/meta/layout", "1"); err != nil {
		t.Fatal(err)
	}
	_, err := etcdstore.Open(etcdstore.Config{Endpoints: cluster.Endpoints(), Prefix: prefix})
	if !errors.Is(err, storage.ErrLayout) {
		t.Fatalf("Open over layout 1: %v, want ErrLayout", err)
	}
}

func TestBackupIsABoltLedgerAndMigrateCopiesOneIn(t *testing.T) {
	prefix := cluster.Prefix(t)
	s := open(t, prefix, -1)
	var seq uint64
	if err := s.Update(func(tx storage.Tx) error {
		var err error
		seq, err = tx.Sequence(storage.History)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i += 100 { // one Txn carries 128 writes at most
		if err := s.Update(func(tx storage.Tx) error {
			for j := i; j < i+100; j++ {
				if err := tx.Put(storage.Credentials, fmt.Appendf(nil, "serial-%03d", j), fmt.Appendf(nil, "record %d", j)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "stampseal.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(f); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	f.Close()
	snap, err := storage.OpenBolt(path)
	if err != nil {
		t.Fatalf("the backup does not open as a bbolt ledger: %v", err)
	}
	if got := get(t, snap, storage.Credentials, "serial-299"); got != "record 299" {
		t.Errorf("backup holds %q for serial-299", got)
	}
	var next uint64
	snap.Update(func(tx storage.Tx) error { next, err = tx.Sequence(storage.History); return err })
	if next <= seq {
		t.Errorf("bbolt sequence after restore = %d, not past the %d handed out on etcd", next, seq)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}

	// The backup migrates back into a fresh prefix.
	dst := cluster.Prefix(t)
	var progress []int
	n, err := etcdstore.Migrate(etcdstore.Config{Endpoints: cluster.Endpoints(), Prefix: dst}, path, false, func(c int) { progress = append(progress, c) })
	if err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if n < 302 || len(progress) < 3 { // 300 credentials, the layout, the sequence; 128 a Txn
		t.Errorf("migrated %d keys in %d txns", n, len(progress))
	}
	m := open(t, dst, 1)
	if got := get(t, m, storage.Credentials, "serial-042"); got != "record 42" {
		t.Errorf("migrated ledger holds %q for serial-042", got)
	}
	var after uint64
	if err := m.Update(func(tx storage.Tx) error { after, err = tx.Sequence(storage.History); return err }); err != nil {
		t.Fatal(err)
	}
	if after <= next {
		t.Errorf("sequence after migration = %d, want past %d", after, next)
	}
	if _, err := etcdstore.Migrate(etcdstore.Config{Endpoints: cluster.Endpoints(), Prefix: dst}, path, false, nil); !errors.Is(err, etcdstore.ErrNotEmpty) {
		t.Errorf("second Migrate into a used prefix: %v, want ErrNotEmpty", err)
	}
	if _, err := etcdstore.Migrate(etcdstore.Config{Endpoints: cluster.Endpoints(), Prefix: dst}, path, true, nil); err != nil {
		t.Errorf("Migrate with replace: %v", err)
	}
}

// A node hears every bucket it follows through one watch: a Txn that
// changes two followed buckets reaches it as one message, each follower
// hears only its bucket, and a follower whose context ended hears nothing.
func TestOneWatchCarriesEveryFollowedBucket(t *testing.T) {
	prefix := cluster.Prefix(t)
	a, b := open(t, prefix, 0), open(t, prefix, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	journal, trails := make(chan string, 10), make(chan string, 10)
	for bucket, ch := range map[storage.Bucket]chan string{storage.History: journal, storage.Trails: trails} {
		if err := a.WatchValues(ctx, bucket, func(k, v []byte) { ch <- fmt.Sprintf("%s=%s", k, v) }); err != nil {
			t.Fatal(err)
		}
	}
	gone, leave := context.WithCancel(ctx)
	var late atomic.Int32
	if err := a.Watch(gone, storage.Trails, func([]byte) { late.Add(1) }); err != nil {
		t.Fatal(err)
	}
	leave()
	// a's own mirror follows Trails and Credentials on the same watch.
	before := a.WatchResponses()
	putAll(t, b, put{storage.History, "seq-1", "redeemed"}, put{storage.Trails, "serial-1", "used once"})
	expectReports(t, "journal watch", journal, "seq-1=redeemed")
	expectReports(t, "trail watch", trails, "serial-1=used once")
	waitMirrored(t, a, storage.Trails, "serial-1", "used once")
	if got := a.WatchResponses() - before; got != 1 {
		t.Errorf("the node received %d watch messages for one Txn, want 1", got)
	}
	if n := late.Load(); n != 0 {
		t.Errorf("a follower whose context ended heard %d changes", n)
	}
	select {
	case got := <-journal:
		t.Errorf("the journal's follower heard %s too", got)
	case got := <-trails:
		t.Errorf("the trails' follower heard %s too", got)
	default:
	}
}
