package etcdstore

import (
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func put(key string, created, rev int64) *clientv3.Event {
	return putValue(key, make([]byte, 1), created, rev)
}

func putValue(key string, value []byte, created, rev int64) *clientv3.Event {
	return &clientv3.Event{Type: clientv3.EventTypePut, Kv: &mvccpb.KeyValue{Key: []byte(key), Value: value, CreateRevision: created, ModRevision: rev}}
}

// The mirror keeps its newest max keys, and vouches for an absent key
// only where nothing it dropped could have been that key.
func TestMirrorDropsTheOldestAndVouchesOnlyForWhatItSaw(t *testing.T) {
	m := &mirror{max: 2, since: 10, keys: map[string]mirrored{}, buckets: []string{"/p/credentials/", "/p/trails/"}}
	m.apply([]*clientv3.Event{put("/p/credentials/a", 11, 11), put("/p/credentials/b", 12, 12)})
	m.apply([]*clientv3.Event{put("/p/credentials/c", 13, 13)})
	if _, ok := m.keys["/p/credentials/a"]; ok || len(m.keys) != 2 || m.since != 11 {
		t.Fatalf("after 3 keys in a mirror of 2: %d keys, a held %v, since %d; want b and c, since 11", len(m.keys), ok, m.since)
	}
	for _, c := range []struct {
		key, follows string
		found        bool
		modRev       int64
	}{
		{"/p/credentials/c", "", true, 13},
		{"/p/credentials/a", "", false, 0},               // dropped: read it
		{"/p/trails/c", "/p/credentials/c", true, 0},     // c created in sight: no trail yet
		{"/p/trails/a", "/p/credentials/a", false, 0},    // a dropped: its trail may exist
		{"/p/trails/x", "", false, 0},                    // nothing known
		{"/p/blocklist/c", "/p/credentials/c", false, 0}, // not a mirrored bucket
		{"/p/trails/c", "/p/blocklist/c", false, 0},      // follows an unmirrored bucket
	} {
		r, ok := m.lookup(c.key, c.follows)
		if ok != c.found || r.modRev != c.modRev {
			t.Errorf("lookup(%s, follows %q) = %v, modRev %d; want %v, %d", c.key, c.follows, ok, r.modRev, c.found, c.modRev)
		}
	}
	// A credential created before the mirror's horizon vouches for nothing.
	m.apply([]*clientv3.Event{put("/p/credentials/old", 5, 14)})
	if _, ok := m.lookup("/p/trails/old", "/p/credentials/old"); ok {
		t.Error("a record created before the mirror began vouched that its trail is absent")
	}
	// One key changed again and again does not grow the mirror's queue
	// without bound.
	for rev := int64(15); rev < 5000; rev++ {
		m.apply([]*clientv3.Event{put("/p/trails/busy", 15, rev)})
	}
	if len(m.keys) != 2 || len(m.order) > 2*m.max+1024 {
		t.Errorf("after 5,000 changes of one key: %d keys, %d queued; want 2 and at most %d", len(m.keys), len(m.order), 2*m.max+1024)
	}
	// While a watch is lost the mirror serves nothing; back, it starts
	// empty from the revision it came back at.
	m.lost()
	if _, ok := m.lookup("/p/trails/busy", ""); ok {
		t.Error("a mirror whose watch is lost served a key")
	}
	m.back(6000)
	if _, ok := m.lookup("/p/trails/busy", ""); ok || m.since != 5999 {
		t.Errorf("a mirror back from a lost watch: held its old keys %v, since %d; want none, 5999", ok, m.since)
	}
	m.apply([]*clientv3.Event{put("/p/credentials/new", 6001, 6001)})
	if _, ok := m.lookup("/p/trails/new", "/p/credentials/new"); !ok {
		t.Error("a mirror back from a lost watch does not serve again")
	}
}

// Records that grow large cannot make the mirror outgrow its bytes: it
// holds at most a KiB per key it may hold, dropping the oldest first.
func TestMirrorKeepsToItsBytes(t *testing.T) {
	m := &mirror{max: 10, keys: map[string]mirrored{}, buckets: []string{"/p/credentials/"}}
	for rev := int64(1); rev <= 20; rev++ {
		m.apply([]*clientv3.Event{putValue(fmt.Sprintf("/p/credentials/%02d", rev), make([]byte, 3000), rev, rev)})
		if m.bytes > m.max*mirrorBytesPerKey {
			t.Fatalf("after %d records of 3,000 bytes the mirror holds %d bytes, over %d", rev, m.bytes, m.max*mirrorBytesPerKey)
		}
	}
	if _, ok := m.keys["/p/credentials/20"]; !ok || len(m.keys) != 3 || m.since != 17 {
		t.Errorf("the mirror holds %d records (the newest: %v), since %d; want the newest 3, since 17", len(m.keys), ok, m.since)
	}
	// Replacing a record counts its new size, not both.
	m.apply([]*clientv3.Event{putValue("/p/credentials/20", make([]byte, 10), 20, 21)})
	want := 0
	for k, e := range m.keys {
		want += len(k) + len(e.value)
	}
	if m.bytes != want {
		t.Errorf("bytes counted %d, held %d", m.bytes, want)
	}
}
