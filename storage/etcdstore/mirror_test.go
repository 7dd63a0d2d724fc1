package etcdstore_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stampseal/stampseal/storage"
	"github.com/stampseal/stampseal/storage/etcdstore"
)

// waitMirrored waits until s's mirror holds b/key with value.
func waitMirrored(t *testing.T, s *etcdstore.Store, b storage.Bucket, key, value string) int64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, rev, ok := etcdstore.MirrorHolds(s, b, key); ok && string(v) == value {
			return rev
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mirror did not get %s/%s=%s within 5 s", b, key, value)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// issue writes serial's issuance record on s as the issuer does: checked
// absent, then written. The node's own mirror has it at once, and knows
// when it was created.
func issue(t *testing.T, s *etcdstore.Store, serial string) {
	t.Helper()
	if err := s.Update(func(tx storage.Tx) error {
		if tx.Get(storage.Credentials, []byte(serial)) != nil {
			return errors.New("serial collision")
		}
		return tx.Put(storage.Credentials, []byte(serial), []byte("issued"))
	}); err != nil {
		t.Fatal(err)
	}
}

// redemptionKeys are what a redemption of serial prefetches: its trail,
// its issuance record, and the record of a new idempotency key.
func redemptionKeys(serial, idem string) []storage.Key {
	return []storage.Key{
		{Bucket: storage.Trails, Key: []byte(serial), Follows: storage.Credentials},
		{Bucket: storage.Credentials, Key: []byte(serial)},
		{Bucket: storage.Answers, Key: []byte(idem), New: true},
	}
}

// redeem is a redemption in miniature: issued and not used yet, it marks
// the trail and remembers the answer; else it refuses (writes nothing).
// It returns what each attempt saw of the trail.
func redeem(s *etcdstore.Store, serial, idem, by string) (seen []string, err error) {
	err = s.Update(func(tx storage.Tx) error {
		storage.Prefetch(tx, redemptionKeys(serial, idem)...)
		trail := tx.Get(storage.Trails, []byte(serial))
		seen = append(seen, string(trail))
		if tx.Get(storage.Credentials, []byte(serial)) == nil || trail != nil || tx.Get(storage.Answers, []byte(idem)) != nil {
			return nil
		}
		if err := tx.Put(storage.Trails, []byte(serial), []byte(by)); err != nil {
			return err
		}
		return tx.Put(storage.Answers, []byte(idem), []byte(by))
	})
	return seen, err
}

// A node redeeming a credential issued since it started sends one Txn
// and no read: the issuance record comes from its mirror, the trail is
// known absent (the record was created in the mirror's sight), the
// idempotency key is taken as new. Another node sees the write. (Issued
// on the same node, so that the test waits on no watch.)
func TestMirrorLetsARedemptionSendOneTxnAndNoRead(t *testing.T) {
	prefix := cluster.Prefix(t)
	a, b := open(t, prefix, 0), open(t, prefix, 1)
	issue(t, a, "s1")
	waitMirrored(t, a, storage.Credentials, "s1", "issued")
	reads0, txns0 := a.Requests()
	served0 := a.MirrorServed()
	seen, err := redeem(a, "s1", "sale-1", "till-a")
	if err != nil {
		t.Fatal(err)
	}
	reads, txns := a.Requests()
	if reads != reads0 || txns != txns0+1 || len(seen) != 1 || seen[0] != "" {
		t.Errorf("redemption from the mirror: %d reads, %d Txns, attempts saw %q; want 0, 1, one attempt seeing no trail", reads-reads0, txns-txns0, seen)
	}
	if n := a.MirrorServed() - served0; n != 2 {
		t.Errorf("the mirror served %d keys, want 2 (record and trail)", n)
	}
	if got := get(t, b, storage.Trails, "s1"); got != "till-a" {
		t.Errorf("another node reads the trail as %q, want till-a", got)
	}
	// The second redemption, once the mirror has the trail, is refused
	// from the mirror alone: one Txn of compares, no read.
	waitMirrored(t, a, storage.Trails, "s1", "till-a")
	reads0, _ = a.Requests()
	if seen, err := redeem(a, "s1", "sale-2", "till-a"); err != nil || len(seen) != 1 || seen[0] != "till-a" {
		t.Errorf("second redemption: attempts saw %q, %v; want one seeing till-a", seen, err)
	}
	if reads, _ := a.Requests(); reads != reads0 {
		t.Errorf("a refusal from the mirror sent %d reads, want 0", reads-reads0)
	}
}

// A mirror that lags behind another node's write makes the first attempt
// lose at commit; the second reads etcd and refuses. Nothing is
// double-spent, and a mirror that knows nothing reads as before.
func TestAStaleMirrorCostsARetryNeverADoubleSpend(t *testing.T) {
	prefix := cluster.Prefix(t)
	a, b := open(t, prefix, 0), open(t, prefix, 1)
	if err := a.Update(func(tx storage.Tx) error { return tx.Put(storage.Credentials, []byte("s2"), []byte("issued")) }); err != nil {
		t.Fatal(err)
	}
	// b's member may not have applied the issue yet: its first reads may
	// miss it, and its commit must then catch that rather than refuse.
	if seen, err := redeem(b, "s2", "sale-b", "till-b"); err != nil || seen[len(seen)-1] != "" {
		t.Fatalf("redemption on b: saw %q, %v", seen, err)
	}
	if got := get(t, a, storage.Trails, "s2"); got != "till-b" {
		t.Fatalf("redemption on b left trail %q, want till-b: it was decided on a member's stale copy", got)
	}
	// a's mirror keeps the old (absent) trail, as a watch that has not
	// caught up yet would hold it.
	etcdstore.PlantInMirror(a, storage.Trails, "s2", nil, 0)
	seen, err := redeem(a, "s2", "sale-a", "till-a")
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != "" || seen[1] != "till-b" {
		t.Errorf("attempts on the stale mirror saw %q, want [\"\" till-b]: a lost first attempt, then etcd's trail", seen)
	}
	if got := get(t, b, storage.Trails, "s2"); got != "till-b" {
		t.Errorf("trail after the race: %q, want till-b (one use)", got)
	}
	if got := get(t, b, storage.Answers, "sale-a"); got != "" {
		t.Errorf("the refused redemption left an answer %q", got)
	}

	// A credential issued before the node started is not in its mirror:
	// its redemption reads etcd.
	c := open(t, prefix, 2)
	reads0, _ := c.Requests()
	if seen, err := redeem(c, "s2", "sale-c", "till-c"); err != nil || len(seen) != 1 || seen[0] != "till-b" {
		t.Errorf("redemption on a node started after the issue: saw %q, %v", seen, err)
	}
	if reads, _ := c.Requests(); reads == reads0 {
		t.Error("a node that never saw the credential decided without reading it")
	}
}

// A negative Config.Mirror turns the mirror off: every attempt reads.
func TestNoMirrorReadsEveryTime(t *testing.T) {
	prefix := cluster.Prefix(t)
	s, err := etcdstore.Open(etcdstore.Config{Endpoints: cluster.Endpoints(), Prefix: prefix, Mirror: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(func(tx storage.Tx) error { return tx.Put(storage.Credentials, []byte("s3"), []byte("issued")) }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // a mirror, were there one, would have it by now
	reads0, _ := s.Requests()
	if _, err := redeem(s, "s3", "sale-1", "till-1"); err != nil {
		t.Fatal(err)
	}
	if reads, _ := s.Requests(); reads != reads0+1 || s.MirrorServed() != 0 {
		t.Errorf("without a mirror: %d reads, %d served; want 1 and 0", reads-reads0, s.MirrorServed())
	}
}

// A node's own commits reach its mirror at once, ahead of its watch: the
// stamps of one card, one after the other on one node, read nothing and
// never lose an attempt to a mirror that has not heard of the last one.
func TestMirrorHasTheNodesOwnWritesAtOnce(t *testing.T) {
	prefix := cluster.Prefix(t)
	s := open(t, prefix, 0)
	var conflicts atomic.Int64
	s.Observe(etcdstore.Observer{Conflict: func() { conflicts.Add(1) }})
	issue(t, s, "card")
	reads0, _ := s.Requests()
	for i := 1; i <= 20; i++ {
		if err := s.Update(func(tx storage.Tx) error {
			storage.Prefetch(tx, redemptionKeys("card", fmt.Sprint("stamp-", i))...)
			n, _ := strconv.Atoi(string(tx.Get(storage.Trails, []byte("card"))))
			return tx.Put(storage.Trails, []byte("card"), []byte(strconv.Itoa(n+1)))
		}); err != nil {
			t.Fatal(err)
		}
		if v, _, ok := etcdstore.MirrorHolds(s, storage.Trails, "card"); !ok || string(v) != strconv.Itoa(i) {
			t.Fatalf("after stamp %d the mirror holds %q (%v), want %d", i, v, ok, i)
		}
	}
	reads, _ := s.Requests()
	if got := get(t, s, storage.Trails, "card"); got != "20" || conflicts.Load() != 0 || reads != reads0 {
		t.Errorf("20 stamps in a row: trail %q, %d conflicts, %d reads; want 20, 0, 0", got, conflicts.Load(), reads-reads0)
	}
}

// A first attempt that took more keys from the mirror than one Txn may
// compare has no snapshot to guard their buckets by: it is run again,
// reading, without sending a Txn bound to fail.
func TestMoreMirroredKeysThanATxnComparesAreReadAgain(t *testing.T) {
	prefix := cluster.Prefix(t)
	s, err := etcdstore.Open(etcdstore.Config{Endpoints: cluster.Endpoints(), Prefix: prefix, MaxTxnOps: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	names := []string{"r1", "r2", "r3"}
	if err := s.Update(func(tx storage.Tx) error {
		for _, n := range names {
			if err := tx.Put(storage.Credentials, []byte(n), []byte("issued")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		waitMirrored(t, s, storage.Credentials, n, "issued")
	}
	_, txns0 := s.Requests()
	runs := 0
	if err := s.Update(func(tx storage.Tx) error {
		runs++
		var keys []storage.Key
		for _, n := range names {
			keys = append(keys, storage.Key{Bucket: storage.Credentials, Key: []byte(n)})
		}
		storage.Prefetch(tx, keys...)
		seen := 0
		for _, n := range names {
			if tx.Get(storage.Credentials, []byte(n)) != nil {
				seen++
			}
		}
		return tx.Put(storage.Audit, []byte("seen"), []byte(strconv.Itoa(seen)))
	}); err != nil {
		t.Fatal(err)
	}
	// A member behind the first write may cost the reading run one more
	// round; the mirror's run sends nothing.
	if _, txns := s.Requests(); runs < 2 || txns-txns0 != uint64(runs-1) {
		t.Errorf("%d runs and %d Txns; want 2 runs (mirror, then reads) and 1 Txn", runs, txns-txns0)
	}
	if got := get(t, s, storage.Audit, "seen"); got != "3" {
		t.Errorf("write after the second run: %q, want 3", got)
	}
}

// A mirror may be ahead of the member a transaction reads the rest from:
// a serial's record naming a journal entry the member has not applied
// yet. A function that fails on such a mix is run again, reading, instead
// of failing the request.
func TestAnAttemptThatFailsOnTheMirrorRunsAgainReading(t *testing.T) {
	prefix := cluster.Prefix(t)
	s := open(t, prefix, 0)
	if err := s.Update(func(tx storage.Tx) error { return tx.Put(storage.Trails, []byte("s4"), []byte("first use: h1")) }); err != nil {
		t.Fatal(err)
	}
	waitMirrored(t, s, storage.Trails, "s4", "first use: h1")
	// As the watch from a member ahead would deliver it: a use whose
	// journal entry this node's member does not have.
	etcdstore.PlantInMirror(s, storage.Trails, "s4", []byte("first use: h2"), 1<<40)
	var seen []string
	err := s.Update(func(tx storage.Tx) error {
		storage.Prefetch(tx, storage.Key{Bucket: storage.Trails, Key: []byte("s4")})
		trail := string(tx.Get(storage.Trails, []byte("s4")))
		seen = append(seen, trail)
		entry := strings.TrimPrefix(trail, "first use: ")
		if tx.Get(storage.History, []byte(entry)) == nil && entry != "h1" {
			return fmt.Errorf("journal entry %s: %w", entry, storage.ErrNotFound)
		}
		return nil
	})
	if err != nil || len(seen) != 2 || seen[1] != "first use: h1" {
		t.Errorf("attempts saw %q and ended with %v; want the mirror's copy, then etcd's, and no error", seen, err)
	}
	// Without the mirror, an attempt's error is the caller's at once.
	runs := 0
	failure := errors.New("refused by the function")
	if err := s.Update(func(tx storage.Tx) error { runs++; return failure }); !errors.Is(err, failure) || runs != 1 {
		t.Errorf("a function failing without the mirror: %v after %d runs, want its error after 1", err, runs)
	}
}

// A decision that writes nothing (a refusal: "not issued") is checked
// against the leader, not against the copy of the member it read from: a
// credential issued through one member and presented at once through
// another is never refused because that member has not applied it yet.
func TestADecisionThatWritesNothingIsNotTakenFromABehindMember(t *testing.T) {
	prefix := cluster.Prefix(t)
	a, b := open(t, prefix, 0), open(t, prefix, 1)
	refused, retried := 0, 0
	for i := range 200 {
		serial := fmt.Sprint("fresh-", i)
		if err := a.Update(func(tx storage.Tx) error { return tx.Put(storage.Credentials, []byte(serial), []byte("issued")) }); err != nil {
			t.Fatal(err)
		}
		attempts, unissued := 0, false
		err := b.Update(func(tx storage.Tx) error {
			attempts++
			unissued = tx.Get(storage.Credentials, []byte(serial)) == nil
			return nil // a refusal writes nothing
		})
		if err != nil {
			t.Fatal(err)
		}
		if unissued {
			refused++
		}
		retried += attempts - 1
	}
	if refused != 0 {
		t.Errorf("%d of 200 credentials issued through one member were refused as unissued through another", refused)
	}
	t.Logf("%d attempts read a member that had not applied the issue yet, and ran again", retried)
}
