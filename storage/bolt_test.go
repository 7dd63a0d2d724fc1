package storage

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openTemp(t testing.TB) (*Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "stampseal.db")
	s, err := OpenBolt(path)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestConcurrentIncrementsAreExact(t *testing.T) {
	s, path := openTemp(t)
	key := []byte("counter")
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Update(func(tx Tx) error {
				var n uint64
				if v := tx.Get(Meta, key); v != nil {
					n = binary.BigEndian.Uint64(v)
				}
				return tx.Put(Meta, key, binary.BigEndian.AppendUint64(nil, n+1))
			})
			if err != nil {
				t.Errorf("Update: %v", err)
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var got uint64
	s2.View(func(tx Tx) error { got = binary.BigEndian.Uint64(tx.Get(Meta, key)); return nil })
	if got != 200 {
		t.Fatalf("counter after 200 concurrent increments and a reopen = %d, want 200", got)
	}
}

func TestFailingWriterDoesNotSinkItsBatch(t *testing.T) {
	s, _ := openTemp(t)
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(func(tx Tx) error {
				if err := tx.Put(Meta, []byte{byte(i)}, []byte("x")); err != nil {
					return err
				}
				if i%5 == 0 {
					return boom
				}
				return nil
			})
		}()
	}
	wg.Wait()
	s.View(func(tx Tx) error {
		for i, err := range errs {
			stored := tx.Get(Meta, []byte{byte(i)}) != nil
			switch {
			case i%5 == 0 && !errors.Is(err, boom):
				t.Errorf("writer %d: err = %v, want boom", i, err)
			case i%5 == 0 && stored:
				t.Errorf("writer %d failed but its write was kept", i)
			case i%5 != 0 && (err != nil || !stored):
				t.Errorf("writer %d: err = %v, stored = %v; want nil, true", i, err, stored)
			}
		}
		return nil
	})
}

func TestScanPrefixAndJSON(t *testing.T) {
	s, _ := openTemp(t)
	type rec struct{ N int }
	err := s.Update(func(tx Tx) error {
		for i, k := range []string{"a/1", "a/2", "b/1"} {
			if err := PutJSON(tx, Programs, []byte(k), rec{i}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.View(func(tx Tx) error {
		var keys []string
		tx.Scan(Programs, []byte("a/"), func(k, v []byte) error { keys = append(keys, string(k)); return nil })
		if len(keys) != 2 || keys[0] != "a/1" || keys[1] != "a/2" {
			t.Errorf("scan a/ = %v, want [a/1 a/2]", keys)
		}
		var r rec
		if err := GetJSON(tx, Programs, []byte("b/1"), &r); err != nil || r.N != 2 {
			t.Errorf("GetJSON b/1 = %v, %v; want {2}", r, err)
		}
		if err := GetJSON(tx, Programs, []byte("zz"), &r); !errors.Is(err, ErrNotFound) {
			t.Errorf("GetJSON missing = %v, want ErrNotFound", err)
		}
		return nil
	})
}

func TestScanFromStartsAtTheKeyAndRunsToTheBucketsEnd(t *testing.T) {
	s, _ := openTemp(t)
	if err := s.Update(func(tx Tx) error {
		for _, k := range []string{"a/1", "a/2", "b/1", "c"} {
			if err := tx.Put(Programs, []byte(k), []byte("v")); err != nil {
				return err
			}
		}
		return tx.Put(Merchants, []byte("d"), []byte("other bucket"))
	}); err != nil {
		t.Fatal(err)
	}
	from := func(key string) (keys []string) {
		s.View(func(tx Tx) error {
			return tx.ScanFrom(Programs, []byte(key), func(k, _ []byte) error { keys = append(keys, string(k)); return nil })
		})
		return keys
	}
	for key, want := range map[string]string{"a/2": "a/2 b/1 c", "a/10": "a/2 b/1 c", "b/1\x00": "c", "d": "", "": "a/1 a/2 b/1 c"} {
		if got := strings.Join(from(key), " "); got != want {
			t.Errorf("ScanFrom(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestBackupIsAnOpenableSnapshot(t *testing.T) {
	s, _ := openTemp(t)
	s.Update(func(tx Tx) error { return tx.Put(Meta, []byte("k"), []byte("v")) })
	out := filepath.Join(t.TempDir(), "backup.db")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Backup(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, err := OpenBolt(out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.View(func(tx Tx) error {
		if string(tx.Get(Meta, []byte("k"))) != "v" {
			t.Error("backup lacks the value written before it")
		}
		return nil
	})
}

// An in-memory count kept by OnEnd hooks stays equal to the stored count
// while batches are rolled back and re-run around failing writers.
func TestOnEndKeepsMemoryInStepWithCommits(t *testing.T) {
	s, _ := openTemp(t)
	key := []byte("counter")
	var (
		mu        sync.Mutex
		committed int // only changed by hooks
		rolled    int
	)
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.Update(func(tx Tx) error {
				var n uint64
				if v := tx.Get(Meta, key); v != nil {
					n = binary.BigEndian.Uint64(v)
				}
				if err := tx.Put(Meta, key, binary.BigEndian.AppendUint64(nil, n+1)); err != nil {
					return err
				}
				tx.OnEnd(func(ok bool) {
					mu.Lock()
					defer mu.Unlock()
					if ok {
						committed++
					} else {
						rolled++
					}
				})
				if i%7 == 0 {
					return errors.New("refused") // rolls back its batch
				}
				return nil
			})
		}()
	}
	wg.Wait()
	var stored uint64
	if err := s.View(func(tx Tx) error { stored = binary.BigEndian.Uint64(tx.Get(Meta, key)); return nil }); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := 300 - 43; stored != uint64(want) || committed != want {
		t.Errorf("stored %d, hooks saw %d commits; want both %d", stored, committed, want)
	}
	if rolled < 43 {
		t.Errorf("hooks saw %d rollbacks, want at least one per failing writer (43)", rolled)
	}
}

func TestOnEndRefusedInReadOnlyTransaction(t *testing.T) {
	s, _ := openTemp(t)
	defer func() {
		if recover() == nil {
			t.Error("OnEnd in View did not panic")
		}
	}()
	_ = s.View(func(tx Tx) error { tx.OnEnd(func(bool) {}); return nil })
}

// A ledger of another layout is refused instead of being misread.
func TestOtherLayoutIsRefused(t *testing.T) {
	s, path := openTemp(t)
	if err := s.Update(func(tx Tx) error { return tx.Put(Credentials, []byte("serial"), []byte("record")) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := OpenBolt(path); err != nil {
		t.Fatalf("reopen of the current layout: %v", err)
	} else {
		s.Close()
	}

	rewrite := func(fn func(tx *bolt.Tx) error) {
		t.Helper()
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	rewrite(func(tx *bolt.Tx) error { return tx.Bucket([]byte(Meta)).Delete(layoutKey) }) // as layout 1 wrote it
	if _, err := OpenBolt(path); !errors.Is(err, ErrLayout) {
		t.Errorf("layout 1 ledger opened: %v, want ErrLayout", err)
	}
	rewrite(func(tx *bolt.Tx) error { return tx.Bucket([]byte(Meta)).Put(layoutKey, []byte("9")) })
	if _, err := OpenBolt(path); !errors.Is(err, ErrLayout) {
		t.Errorf("layout 9 ledger opened: %v, want ErrLayout", err)
	}
}

func TestObserveCommitsSeesEveryWriteOnce(t *testing.T) {
	s, _ := openTemp(t)
	var mu sync.Mutex
	var commits, writes int
	s.ObserveCommits(func(n int, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		commits++
		writes += n
		if n < 1 || n > maxBatch || took <= 0 {
			t.Errorf("a commit reported %d writes in %v", n, took)
		}
	})
	var wg sync.WaitGroup
	for i := range 150 {
		wg.Go(func() {
			if err := s.Update(func(tx Tx) error { return tx.Put(Meta, []byte{byte(i)}, []byte("x")) }); err != nil {
				t.Errorf("Update: %v", err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if c, _ := s.GroupCommits(); writes != 150 || uint64(commits) != c {
		t.Fatalf("observed %d writes in %d commits (%d commits ran), want 150 writes in all of them", writes, commits, c)
	}
}
