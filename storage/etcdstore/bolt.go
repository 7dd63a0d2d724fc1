package etcdstore

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stampseal/stampseal/storage"
)

// Backup writes a snapshot of the ledger at one revision in the format of
// the bbolt backend (a bbolt file, sequences included), so that `stampseal
// restore` takes a backup from either backend. The snapshot is assembled in
// a temporary file first.
func (s *Store) Backup(w io.Writer) (int64, error) {
	f, err := os.CreateTemp("", "stampseal-etcd-backup-*.db")
	if err != nil {
		return 0, err
	}
	path := f.Name()
	f.Close()
	defer os.Remove(path)
	if err := s.exportBolt(path); err != nil {
		return 0, err
	}
	// Opening it as a ledger checks its layout before it leaves.
	snap, err := storage.OpenBolt(path)
	if err != nil {
		return 0, fmt.Errorf("etcd backup: %w", err)
	}
	n, err := snap.Backup(w)
	return n, errors.Join(err, snap.Close())
}

// exportBolt copies every key under the prefix, read at one revision, into
// the bbolt file at path.
func (s *Store) exportBolt(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoSync: true})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range storage.Buckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	root := s.cfg.Prefix + "/"
	seqRoot := s.seqKey("")
	from, end := root, clientv3.GetPrefixRangeEnd(root)
	var rev int64
	for {
		ctx, cancel := s.opContext()
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(scanPage)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.cli.Get(ctx, from, opts...)
		cancel()
		if err != nil {
			return fmt.Errorf("etcd backup: %w", classify(err))
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		err = db.Update(func(tx *bolt.Tx) error {
			for _, kv := range resp.Kvs {
				k := string(kv.Key)
				if name, ok := strings.CutPrefix(k, seqRoot); ok {
					seq, err := strconv.ParseUint(string(kv.Value), 10, 64)
					if err != nil {
						return fmt.Errorf("sequence of %s: %w", name, err)
					}
					b, err := tx.CreateBucketIfNotExists([]byte(name))
					if err != nil {
						return err
					}
					if err := b.SetSequence(seq); err != nil {
						return err
					}
					continue
				}
				name, key, ok := strings.Cut(k[len(root):], "/")
				if !ok || key == "" {
					continue // not a ledger key
				}
				b, err := tx.CreateBucketIfNotExists([]byte(name))
				if err != nil {
					return err
				}
				if err := b.Put([]byte(key), kv.Value); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return db.Sync()
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// ErrNotEmpty is returned by Migrate when the prefix already holds keys.
var ErrNotEmpty = errors.New("etcd prefix is not empty")

// migrateBytes bounds one migration Txn well under etcd's 1.5 MiB request cap.
const migrateBytes = 1 << 20

// Migrate copies the bbolt ledger at boltPath (its server stopped) under
// cfg.Prefix, in Txns of at most MaxTxnOps puts, and returns how many keys
// it copied. It refuses a prefix that holds anything unless replace is
// set, in which case the prefix is emptied first. progress, when not nil,
// hears the running count after every Txn.
func Migrate(cfg Config, boltPath string, replace bool, progress func(copied int)) (int, error) {
	if err := cfg.defaults(); err != nil {
		return 0, err
	}
	if _, err := os.Stat(boltPath); err != nil {
		return 0, err
	}
	src, err := bolt.Open(boltPath, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return 0, fmt.Errorf("open %s: %w (is its server running?)", boltPath, err)
	}
	defer src.Close()
	cli, err := Dial(cfg.Endpoints, cfg.OpTimeout)
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	s := &Store{cli: cli, cfg: cfg}
	root := cfg.Prefix + "/"
	ctx, cancel := s.opContext()
	resp, err := cli.Get(ctx, root, clientv3.WithPrefix(), clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return 0, classify(err)
	}
	if resp.Count > 0 {
		if !replace {
			return 0, fmt.Errorf("%w: %s holds %d keys", ErrNotEmpty, cfg.Prefix, resp.Count)
		}
		ctx, cancel := s.opContext()
		_, err := cli.Delete(ctx, root, clientv3.WithPrefix())
		cancel()
		if err != nil {
			return 0, classify(err)
		}
	}
	copied := 0
	var ops []clientv3.Op
	size := 0
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		ctx, cancel := s.opContext()
		_, err := cli.Txn(ctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			return classify(err)
		}
		copied += len(ops)
		ops, size = ops[:0], 0
		if progress != nil {
			progress(copied)
		}
		return nil
	}
	add := func(k string, v []byte) error {
		if len(ops) == cfg.MaxTxnOps || size+len(k)+len(v) > migrateBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		ops = append(ops, clientv3.OpPut(k, string(v)))
		size += len(k) + len(v)
		return nil
	}
	err = src.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(storage.Meta)); v == nil || string(v.Get(layoutKey)) != strconv.Itoa(storage.Layout) {
			return fmt.Errorf("%w: %s is not a ledger of layout %d (open it once with this build's serve)", storage.ErrLayout, boltPath, storage.Layout)
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			bp := root + string(name) + "/"
			if err := b.ForEach(func(k, v []byte) error {
				if v == nil {
					return nil // a nested bucket: stampseal has none
				}
				return add(bp+string(k), v)
			}); err != nil {
				return err
			}
			if seq := b.Sequence(); seq > 0 {
				return add(s.seqKey(storage.Bucket(name)), []byte(strconv.FormatUint(seq, 10)))
			}
			return nil
		})
	})
	if err == nil {
		err = flush()
	}
	return copied, err
}
