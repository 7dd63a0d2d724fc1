package etcdstore

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stampseal/stampseal/storage"
)

// Watch calls fn with the key of every put or delete in bucket b by any
// node, from the moment Watch returns until ctx ends. When the watch is
// lost (its revision compacted away, no leader, the cluster gone) fn gets a
// nil key once the watch is back: anything in b may have changed.
func (s *Store) Watch(ctx context.Context, b storage.Bucket, fn func(key []byte)) error {
	return s.WatchValues(ctx, b, func(k, _ []byte) { fn(k) })
}

// WatchValues is Watch with the value of every change: the new value of a
// put, nil for a delete.
func (s *Store) WatchValues(ctx context.Context, b storage.Bucket, fn func(key, value []byte)) error {
	bp := s.bucketPrefix(b)
	// The revision now: the watch starts right after it, so that no change
	// made after Watch returns is missed however late the stream opens.
	rev, err := s.revision()
	if err != nil {
		return err
	}
	go s.follow(ctx, bp, rev+1, stream{
		events: func(evs []*clientv3.Event) {
			for _, ev := range evs {
				var v []byte
				if ev.Type == clientv3.EventTypePut {
					v = ev.Kv.Value
				}
				fn(ev.Kv.Key[len(bp):], v)
			}
		},
		back: func(int64) { fn(nil, nil) },
	})
	return nil
}

// stream is what follow tells of a watch: each response's events; that it
// was lost (optional); that it is back from a revision read anew, after
// which anything may have changed.
type stream struct {
	events func(evs []*clientv3.Event)
	lost   func()
	back   func(from int64)
}

func (s *Store) follow(ctx context.Context, bp string, from int64, st stream) {
	pause := 50 * time.Millisecond
	for ctx.Err() == nil {
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		ch := s.cli.Watch(wctx, bp, clientv3.WithPrefix(), clientv3.WithRev(from))
		for resp := range ch {
			if resp.CompactRevision != 0 || resp.Canceled || resp.Err() != nil {
				break
			}
			st.events(resp.Events)
			from = resp.Header.Revision + 1
			pause = 50 * time.Millisecond
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		if st.lost != nil {
			st.lost()
		}
		// Start again from now, then say that anything may have changed:
		// a change made between the two is seen by the new watch.
		for ctx.Err() == nil {
			if rev, err := s.revision(); err == nil {
				from = rev + 1
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			pause = min(2*pause, time.Second)
		}
		if ctx.Err() != nil {
			return
		}
		st.back(from)
	}
}

// revision is the cluster's revision now, read from a quorum: one key's
// read, not a count of a bucket, which etcd would make by walking it.
func (s *Store) revision() (int64, error) {
	ctx, cancel := s.opContext()
	defer cancel()
	resp, err := s.cli.Get(ctx, s.key(storage.Meta, layoutKey), clientv3.WithKeysOnly())
	if err != nil {
		return 0, classify(err)
	}
	return resp.Header.Revision, nil
}
