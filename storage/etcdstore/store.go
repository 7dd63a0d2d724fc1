package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/stampseal/stampseal/storage"
)

// Defaults of Config.
const (
	DefaultPrefix    = "/stampseal"
	DefaultOpTimeout = 3 * time.Second
	DefaultRetryFor  = 10 * time.Second
	DefaultSeqBlock  = 1000
	DefaultInFlight  = 2
	// MaxTxnOps is etcd's default --max-txn-ops: the most compares, and
	// the most writes, that one Txn may carry.
	MaxTxnOps = 128
)

// ErrContention is returned (wrapped in storage.ErrUnavailable) when an
// Update kept losing to other writers until its retry deadline.
var ErrContention = errors.New("etcd: too much contention, transaction abandoned")

// Config says where the ledger lives and how long to wait for it.
type Config struct {
	Endpoints []string // client URLs of the cluster's members
	Prefix    string   // keys live under it; DefaultPrefix when empty
	// OpTimeout bounds every single request to etcd.
	OpTimeout time.Duration
	// RetryFor bounds how long an Update retries after conflicts.
	RetryFor time.Duration
	// SeqBlock is how many Sequence values a node reserves at once.
	SeqBlock uint64
	// MaxTxnOps bounds the compares of one Txn (and the puts of one
	// migration Txn); MaxTxnOps when 0. Writes are not split: a cluster
	// whose --max-txn-ops is 128 refuses a transaction writing more keys.
	MaxTxnOps int
	// Mirror is how many keys of storage.Mirrored this node keeps a copy
	// of (mirror.go); DefaultMirror when 0, none when negative.
	Mirror int
	// InFlight is how many Txns carrying write transactions this node
	// keeps in flight at once; transactions ready meanwhile share the next
	// one (batch.go). DefaultInFlight when 0; negative: every transaction
	// is its own Txn, sent at once.
	InFlight int
}

func (c *Config) defaults() error {
	if len(c.Endpoints) == 0 {
		return errors.New("etcd: no endpoints")
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	c.Prefix = strings.TrimRight(c.Prefix, "/")
	if c.Prefix == "" || !strings.HasPrefix(c.Prefix, "/") {
		return fmt.Errorf("etcd prefix %q: must start with / and name something", c.Prefix)
	}
	if c.OpTimeout <= 0 {
		c.OpTimeout = DefaultOpTimeout
	}
	if c.RetryFor <= 0 {
		c.RetryFor = DefaultRetryFor
	}
	if c.SeqBlock == 0 {
		c.SeqBlock = DefaultSeqBlock
	}
	if c.MaxTxnOps <= 0 {
		c.MaxTxnOps = MaxTxnOps
	}
	if c.Mirror == 0 {
		c.Mirror = DefaultMirror
	}
	if c.InFlight == 0 {
		c.InFlight = DefaultInFlight
	}
	return nil
}

// Store is the etcd backend. It is safe for concurrent use.
type Store struct {
	cli *clientv3.Client
	cfg Config

	stripes [stripes]sync.Mutex

	seqMu sync.Mutex
	seq   map[storage.Bucket]*seqBlock

	observe atomic.Pointer[Observer]

	hub    hub             // the node's one watch, started by its first subscriber
	mirror *mirror         // nil when Config.Mirror is negative
	batch  *batcher        // nil when Config.InFlight is negative
	life   context.Context // ends when the store closes
	stop   context.CancelFunc

	reads, txns atomic.Uint64 // requests sent, for benchmarks
}

// Observer hears of every commit and conflict, for metrics.
type Observer struct {
	// Txn is called after every Txn sent to etcd with how long it took.
	Txn func(took time.Duration)
	// Carried is called after every Txn of writes sent with how many
	// write transactions it carried (more than 1: shared, batch.go).
	Carried func(n int)
	// Conflict is called every time an attempt lost to another writer.
	Conflict func()
}

type seqBlock struct{ next, last uint64 }

// Open connects to the cluster and checks (or, on an empty prefix, records)
// the ledger's layout. It fails with storage.ErrUnavailable when no quorum
// answers within the OpTimeout.
func Open(cfg Config) (*Store, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	cli, err := Dial(cfg.Endpoints, cfg.OpTimeout)
	if err != nil {
		return nil, err
	}
	s := &Store{cli: cli, cfg: cfg, seq: map[storage.Bucket]*seqBlock{}}
	if cfg.InFlight > 0 {
		s.batch = &batcher{s: s, inFlight: cfg.InFlight}
	}
	s.life, s.stop = context.WithCancel(context.Background())
	if err := s.checkLayout(); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.Mirror > 0 {
		if err := s.startMirror(cfg.Mirror); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Dial makes an etcd client that logs nothing (its errors reach the caller).
func Dial(endpoints []string, timeout time.Duration) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          timeout,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: timeout,
		Logger:               zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(endpoints, ","), err)
	}
	return cli, nil
}

var layoutKey = []byte("layout")

func (s *Store) checkLayout() error {
	k := s.key(storage.Meta, layoutKey)
	want := strconv.Itoa(storage.Layout)
	ctx, cancel := s.opContext()
	defer cancel()
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, want)).
		Else(clientv3.OpGet(k)).Commit()
	if err != nil {
		return fmt.Errorf("etcd ledger %s: %w", s.cfg.Prefix, classify(err))
	}
	if resp.Succeeded {
		return nil
	}
	if got := resp.Responses[0].GetResponseRange().Kvs; len(got) == 1 && string(got[0].Value) != want {
		return fmt.Errorf("%w: layout %s, this build reads layout %s", storage.ErrLayout, got[0].Value, want)
	}
	return nil
}

// Client is the store's etcd client (for health checks and tools).
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix is the key prefix the ledger lives under.
func (s *Store) Prefix() string { return s.cfg.Prefix }

// Requests reports how many reads and Txns this store has sent to etcd.
func (s *Store) Requests() (reads, txns uint64) { return s.reads.Load(), s.txns.Load() }

// WatchResponses reports how many watch responses (messages from etcd,
// each one revision's changes or several) this store has received.
func (s *Store) WatchResponses() uint64 { return s.hub.responses.Load() }

// WatchRestarts reports how often the node's watch, once lost, went on
// from where it stopped (resumed) and how often it had to start anew
// because etcd had compacted what it missed: each of those makes the
// node's caches and mirror start empty and its owner's figures read the
// whole ledger again.
func (s *Store) WatchRestarts() (resumed, anew uint64) {
	return s.hub.resumes.Load(), s.hub.anew.Load()
}

// Observe makes the store report commits and conflicts to o.
func (s *Store) Observe(o Observer) { s.observe.Store(&o) }

// Close closes the client; Updates in flight fail.
func (s *Store) Close() error {
	s.stop()
	return s.cli.Close()
}

// Ping reads from a quorum: nil when the cluster answers within ctx (and
// the OpTimeout).
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), s.cfg.OpTimeout)
	defer cancel()
	_, err := s.cli.Get(ctx, s.key(storage.Meta, layoutKey), clientv3.WithCountOnly())
	return classify(err)
}

func (s *Store) opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(clientv3.WithRequireLeader(context.Background()), s.cfg.OpTimeout)
}

func (s *Store) bucketPrefix(b storage.Bucket) string { return s.cfg.Prefix + "/" + string(b) + "/" }

func (s *Store) key(b storage.Bucket, k []byte) string { return s.bucketPrefix(b) + string(k) }

func (s *Store) seqKey(b storage.Bucket) string { return s.cfg.Prefix + "/_seq/" + string(b) }

// View runs fn over one consistent snapshot (the revision of its first read).
func (s *Store) View(fn func(storage.Tx) error) error {
	for {
		t := s.newTx(false)
		err := fn(t)
		if t.err != nil {
			if errors.Is(t.err, errRetry) {
				continue // the snapshot was compacted under a long read
			}
			return t.err
		}
		return err
	}
}

// Update runs fn as one optimistic serializable transaction, re-running it
// when another writer changed what it read, and returns once the writes
// are committed by a quorum.
func (s *Store) Update(fn func(storage.Tx) error) error {
	deadline := time.Now().Add(s.cfg.RetryFor)
	var held []int
	defer func() { s.unlockStripes(held) }()
	for attempt := 0; ; attempt++ {
		t := s.newTx(true)
		t.guess = attempt == 0
		err := fn(t)
		switch {
		case t.err == nil && err == nil:
			err = t.commit()
		case t.err != nil:
			err = t.err
		case t.guessed:
			// What the mirror gave may be newer than the member's copy the
			// rest was read from (a serial's record naming a journal entry
			// the member has not applied yet): the function may have failed
			// on that mix, so it runs again, reading.
			err = fmt.Errorf("%w: %w", errRetry, err)
		}
		if err == nil {
			t.end(true)
			return nil
		}
		t.end(false)
		if !errors.Is(err, errRetry) {
			return err
		}
		if o := s.observe.Load(); o != nil && o.Conflict != nil {
			o.Conflict()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %w after %d attempts", storage.ErrUnavailable, ErrContention, attempt+1)
		}
		if held == nil {
			// Retries of this node on the same keys queue behind each
			// other: per key, each node then sends one contender at a
			// time instead of all of them colliding round after round.
			// The deadline counts from the head of the queue.
			held = s.lockStripes(t)
			deadline = time.Now().Add(s.cfg.RetryFor)
			continue
		}
		// Jittered, growing pause: racing nodes spread out instead of
		// colliding again on the next round trip.
		limit := time.Millisecond << min(attempt, 5)
		time.Sleep(rand.N(limit) + 100*time.Microsecond)
	}
}

// stripes is the number of locks that retrying transactions of one node
// take, by hash of the keys they touched.
const stripes = 64

// lockStripes locks, in order, the stripes of every key t read or wrote.
func (s *Store) lockStripes(t *tx) []int {
	set := map[int]bool{}
	add := func(k string) {
		h := fnv.New32a()
		h.Write([]byte(k))
		set[int(h.Sum32()%stripes)] = true
	}
	for k := range t.reads {
		add(k)
	}
	for k := range t.writes {
		add(k)
	}
	for _, r := range t.ranges {
		add(r[0])
	}
	held := make([]int, 0, len(set))
	for i := range set {
		held = append(held, i)
	}
	slices.Sort(held)
	for _, i := range held {
		s.stripes[i].Lock()
	}
	return held
}

func (s *Store) unlockStripes(held []int) {
	for _, i := range held {
		s.stripes[i].Unlock()
	}
}

// errRetry marks an attempt that must run again: a compare failed (another
// writer won) or its snapshot revision was compacted.
var errRetry = errors.New("etcd: transaction conflict")

// classify wraps failures to reach a quorum in storage.ErrUnavailable.
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, rpctypes.ErrCompacted), errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("%w: %w", errRetry, err)
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge),
		errors.Is(err, rpctypes.ErrDuplicateKey), errors.Is(err, rpctypes.ErrEmptyKey):
		return fmt.Errorf("etcd refused the transaction: %w", err) // a bug of ours: too big
	}
	// Deadlines, no leader, refused connections, a closed client: the
	// cluster cannot be reached now.
	return fmt.Errorf("%w: etcd: %w", storage.ErrUnavailable, err)
}

// Sequence values come from blocks reserved with a compare-and-swap on a
// counter key, so that writers do not all conflict on one hot key.
func (s *Store) nextSequence(b storage.Bucket) (uint64, error) {
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	blk := s.seq[b]
	if blk == nil {
		blk = &seqBlock{}
		s.seq[b] = blk
	}
	if blk.next == 0 || blk.next > blk.last {
		first, last, err := s.reserve(b, s.cfg.SeqBlock)
		if err != nil {
			return 0, err
		}
		blk.next, blk.last = first, last
	}
	v := blk.next
	blk.next++
	return v, nil
}

// reserve takes the next n values of b's counter for this node.
func (s *Store) reserve(b storage.Bucket, n uint64) (first, last uint64, err error) {
	k := s.seqKey(b)
	deadline := time.Now().Add(s.cfg.RetryFor)
	for {
		ctx, cancel := s.opContext()
		resp, err := s.cli.Get(ctx, k)
		if err != nil {
			cancel()
			return 0, 0, classify(err)
		}
		var cur uint64
		var modRev int64
		if len(resp.Kvs) == 1 {
			if cur, err = strconv.ParseUint(string(resp.Kvs[0].Value), 10, 64); err != nil {
				cancel()
				return 0, 0, fmt.Errorf("etcd sequence %s: %w", b, err)
			}
			modRev = resp.Kvs[0].ModRevision
		}
		txn, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(k), "=", modRev)).
			Then(clientv3.OpPut(k, strconv.FormatUint(cur+n, 10))).Commit()
		cancel()
		if err != nil {
			return 0, 0, classify(err)
		}
		if txn.Succeeded {
			return cur + 1, cur + n, nil
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%w: sequence %s: %w", storage.ErrUnavailable, b, ErrContention)
		}
	}
}

// tx is one attempt of a View or an Update.
type tx struct {
	s     *Store
	write bool
	rev   int64 // the snapshot's revision; 0 until the first read
	// guess lets Prefetch take keys from the mirror: a write transaction's
	// first attempt. guessed says it did.
	guess, guessed bool
	// linear makes the first read linearizable (View). An Update reads
	// from its member's copy (serializable): its commit's compares, sent
	// through the leader, catch anything that copy had not seen yet.
	linear bool
	err    error // the first failed read: the attempt cannot decide

	reads  map[string]read    // keys read from etcd (not from writes)
	ahead  map[string]read    // keys prefetched and not yet got (not compared at commit)
	seen   map[string]int64   // keys met by scans, with their ModRevision
	ranges [][2]string        // ranges scanned: [start, end)
	writes map[string]*change // buffered puts and deletes
	hooks  []func(committed bool)
}

type read struct {
	value  []byte
	modRev int64 // 0: absent
}

type change struct {
	value   []byte
	deleted bool
}

func (s *Store) newTx(write bool) *tx {
	return &tx{s: s, write: write, linear: !write, reads: map[string]read{}, ahead: map[string]read{}, writes: map[string]*change{}}
}

func (t *tx) fail(err error) {
	if t.err == nil {
		t.err = err
	}
}

// get reads at the snapshot's revision once there is one, and fixes it
// with the first read.
func (t *tx) get(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	ctx, cancel := t.s.opContext()
	defer cancel()
	t.s.reads.Add(1)
	o := opts
	if t.rev != 0 {
		o = append(o, clientv3.WithRev(t.rev))
	}
	if t.rev != 0 || !t.linear {
		o = append(o, clientv3.WithSerializable())
	}
	resp, err := t.s.cli.Get(ctx, key, o...)
	if t.rev != 0 && errors.Is(err, rpctypes.ErrFutureRev) {
		// Another member than the first read's, behind it: a
		// linearizable read waits until it has caught up.
		t.s.reads.Add(1)
		resp, err = t.s.cli.Get(ctx, key, append(opts, clientv3.WithRev(t.rev))...)
	}
	if err != nil {
		return nil, err
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	return resp, nil
}

func (t *tx) Get(b storage.Bucket, key []byte) []byte {
	k := t.s.key(b, key)
	if c, ok := t.writes[k]; ok {
		if c.deleted {
			return nil
		}
		return c.value
	}
	if r, ok := t.reads[k]; ok {
		return r.value
	}
	if r, ok := t.ahead[k]; ok {
		// Got now: from here on the commit checks it.
		delete(t.ahead, k)
		t.reads[k] = r
		return r.value
	}
	if t.err != nil {
		return nil
	}
	resp, err := t.get(k)
	if err != nil {
		t.fail(classify(err))
		return nil
	}
	var r read
	if len(resp.Kvs) == 1 {
		r = read{value: resp.Kvs[0].Value, modRev: resp.Kvs[0].ModRevision}
	}
	t.reads[k] = r
	return r.value
}

// Prefetch reads the keys not known yet in one read-only Txn of Gets
// (at most MaxTxnOps a Txn): a decision's first reads then cost one round
// trip instead of one each. etcd answers a Txn whose ranges are all
// serializable from the member's own copy, as it does a serializable Get,
// and reads all of them at one revision, which becomes the snapshot. A
// View's first prefetch is linearizable, as its first Get would be.
func (t *tx) Prefetch(keys ...storage.Key) {
	var want []string
	for _, k := range keys {
		full := t.s.key(k.Bucket, k.Key)
		_, written := t.writes[full]
		_, isRead := t.reads[full]
		_, fetched := t.ahead[full]
		if !written && !isRead && !fetched && !t.fromMirror(k, full) && !slices.Contains(want, full) {
			want = append(want, full)
		}
	}
	for len(want) > 0 && t.err == nil {
		n := min(len(want), t.s.cfg.MaxTxnOps)
		if err := t.fetch(want[:n]); err != nil {
			t.fail(classify(err))
		}
		want = want[n:]
	}
}

// fetch reads keys in one Txn into t.ahead.
func (t *tx) fetch(keys []string) error {
	gets := func(serializable bool) []clientv3.Op {
		ops := make([]clientv3.Op, len(keys))
		for i, k := range keys {
			var o []clientv3.OpOption
			if t.rev != 0 {
				o = append(o, clientv3.WithRev(t.rev))
			}
			if serializable {
				o = append(o, clientv3.WithSerializable())
			}
			ops[i] = clientv3.OpGet(k, o...)
		}
		return ops
	}
	ctx, cancel := t.s.opContext()
	defer cancel()
	t.s.reads.Add(1)
	resp, err := t.s.cli.Txn(ctx).Then(gets(t.rev != 0 || !t.linear)...).Commit()
	if t.rev != 0 && errors.Is(err, rpctypes.ErrFutureRev) {
		// A member behind the snapshot: a linearizable read waits for it.
		t.s.reads.Add(1)
		resp, err = t.s.cli.Txn(ctx).Then(gets(false)...).Commit()
	}
	if err != nil {
		return err
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	for i, r := range resp.Responses {
		var got read
		if kvs := r.GetResponseRange().GetKvs(); len(kvs) == 1 {
			got = read{value: kvs[0].Value, modRev: kvs[0].ModRevision}
		}
		t.ahead[keys[i]] = got
	}
	return nil
}

func (t *tx) Put(b storage.Bucket, key, value []byte) error {
	if !t.write {
		return errors.New("storage: Put in a read-only transaction")
	}
	if len(key) == 0 {
		return errors.New("storage: empty key")
	}
	t.writes[t.s.key(b, key)] = &change{value: append([]byte{}, value...)}
	return nil
}

func (t *tx) Delete(b storage.Bucket, key []byte) error {
	if !t.write {
		return errors.New("storage: Delete in a read-only transaction")
	}
	t.writes[t.s.key(b, key)] = &change{deleted: true}
	return nil
}

// scanPage is how many keys one range request fetches.
const scanPage = 512

func (t *tx) Scan(b storage.Bucket, prefix []byte, fn func(key, value []byte) error) error {
	bp := t.s.bucketPrefix(b)
	start := bp + string(prefix)
	return t.scan(bp, start, clientv3.GetPrefixRangeEnd(start), fn)
}

func (t *tx) ScanFrom(b storage.Bucket, from []byte, fn func(key, value []byte) error) error {
	bp := t.s.bucketPrefix(b)
	return t.scan(bp, bp+string(from), clientv3.GetPrefixRangeEnd(bp), fn)
}

// scan calls fn for the keys in [start, end) of the bucket prefixed bp,
// merging this transaction's own writes, and records the range for the
// commit's compares.
func (t *tx) scan(bp, start, end string, fn func(key, value []byte) error) error {
	if t.err != nil {
		return t.err
	}
	// This transaction's own writes in the range, merged in key order.
	var mine []string
	for k := range t.writes {
		if k >= start && k < end {
			mine = append(mine, k)
		}
	}
	slices.Sort(mine)
	emitMine := func(upTo string, inclusive bool) error {
		for len(mine) > 0 && (mine[0] < upTo || inclusive && mine[0] == upTo) {
			k := mine[0]
			mine = mine[1:]
			if c := t.writes[k]; c != nil && !c.deleted {
				if err := fn([]byte(k[len(bp):]), c.value); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if t.seen == nil {
		t.seen = map[string]int64{}
	}
	from := start
	for {
		resp, err := t.get(from, clientv3.WithRange(end), clientv3.WithLimit(scanPage))
		if err != nil {
			t.fail(classify(err))
			return t.err
		}
		if from == start {
			t.ranges = append(t.ranges, [2]string{start, end})
		}
		for _, kv := range resp.Kvs {
			k := string(kv.Key)
			t.seen[k] = kv.ModRevision
			if err := emitMine(k, false); err != nil {
				return err
			}
			if len(mine) > 0 && mine[0] == k {
				if err := emitMine(k, true); err != nil {
					return err
				}
				continue
			}
			if err := fn(kv.Key[len(bp):], kv.Value); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	return emitMine(end, false)
}

func (t *tx) Sequence(b storage.Bucket) (uint64, error) {
	if !t.write {
		return 0, errors.New("storage: Sequence in a read-only transaction")
	}
	return t.s.nextSequence(b)
}

func (t *tx) OnEnd(fn func(committed bool)) {
	if !t.write {
		panic("storage: OnEnd in a read-only transaction")
	}
	t.hooks = append(t.hooks, fn)
}

func (t *tx) end(committed bool) {
	for _, h := range t.hooks {
		h(committed)
	}
}

// commit sends the buffered writes in one Txn guarded by compares on all
// that was read, a Txn that other write transactions of this node may
// share (batch.go). A failed compare returns errRetry.
func (t *tx) commit() error {
	if t.rev == 0 && len(t.reads) == 0 && len(t.writes) == 0 {
		return nil // read nothing, wrote nothing
	}
	cmps, err := t.compares()
	if err != nil {
		return err
	}
	if t.s.batch != nil && t.mergeable() {
		return t.s.batch.commit(t, cmps)
	}
	return t.send(cmps)
}

// compares are what the commit checks: that nothing this transaction read
// changed since.
func (t *tx) compares() ([]clientv3.Cmp, error) {
	// A read-only decision still sends its compares (with one linearizable
	// read, send, so that the member answers after the leader's read
	// index, without a raft entry): its serializable reads may have been
	// behind another node's commit.
	// The writes go as they are: a cluster run with a larger --max-txn-ops
	// takes more (a batch of coupons), a default one refuses them whole.
	max := t.s.cfg.MaxTxnOps
	var cmps []clientv3.Cmp
	for k, r := range t.reads {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", r.modRev))
	}
	for _, r := range t.ranges {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(r[0]), "<", t.rev+1).WithRange(r[1]))
	}
	if len(cmps) > max {
		if t.rev == 0 {
			// All taken from the mirror: there is no snapshot to guard a
			// bucket by, so the next attempt reads.
			return nil, errRetry
		}
		// Too many point reads: guard each bucket read by one range compare.
		cmps = t.bucketCompares()
	}
	// Scanned keys are compared one by one while there is room: that also
	// catches a key deleted from a scanned range.
	if room := max - len(cmps); room >= len(t.seen) {
		for k, rev := range t.seen {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", rev))
		}
	}
	return cmps, nil
}

// ops are the transaction's writes as etcd operations.
func (t *tx) ops() []clientv3.Op {
	ops := make([]clientv3.Op, 0, len(t.writes))
	for k, c := range t.writes {
		if c.deleted {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			ops = append(ops, clientv3.OpPut(k, string(c.value)))
		}
	}
	return ops
}

// send commits the transaction alone: one Txn of its compares and writes.
func (t *tx) send(cmps []clientv3.Cmp) error {
	ops := t.ops()
	if len(ops) == 0 {
		// etcd answers a Txn without a write or a linearizable read from
		// the member's own copy, with no read index: the compares of a
		// read-only decision would then be checked against the copy its
		// reads came from, which may be behind (a coupon issued on another
		// node refused as unissued). One linearizable count makes the
		// member catch up with the leader first.
		ops = []clientv3.Op{clientv3.OpGet(t.s.cfg.Prefix, clientv3.WithCountOnly())}
	}
	rev, err := t.s.txn(cmps, ops)
	if len(t.writes) > 0 {
		t.s.carried(1)
	}
	if err != nil {
		return err
	}
	t.committed(rev)
	return nil
}

// committed records in the mirror what the transaction wrote, at the
// revision of the Txn that carried it.
func (t *tx) committed(rev int64) {
	if t.s.mirror != nil && len(t.writes) > 0 {
		t.s.mirror.wrote(t, rev)
	}
}

// carried tells the observer how many write transactions a Txn carried.
func (s *Store) carried(n int) {
	if o := s.observe.Load(); o != nil && o.Carried != nil {
		o.Carried(n)
	}
}

// txn sends one Txn and returns the revision it committed at; errRetry
// when a compare failed.
func (s *Store) txn(cmps []clientv3.Cmp, ops []clientv3.Op) (int64, error) {
	ctx, cancel := s.opContext()
	defer cancel()
	start := time.Now()
	s.txns.Add(1)
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if o := s.observe.Load(); o != nil && o.Txn != nil {
		o.Txn(time.Since(start))
	}
	if err != nil {
		return 0, classify(err)
	}
	if !resp.Succeeded {
		return 0, errRetry
	}
	return resp.Header.Revision, nil
}

// bucketCompares guards every bucket this transaction read by one range
// compare (nothing in it written after the snapshot): coarser, more
// conflicts, but it fits in one Txn.
func (t *tx) bucketCompares() []clientv3.Cmp {
	buckets := map[string]bool{}
	for k := range t.reads {
		buckets[t.s.bucketOf(k)] = true
	}
	for _, r := range t.ranges {
		buckets[t.s.bucketOf(r[0])] = true
	}
	var cmps []clientv3.Cmp
	for bp := range buckets {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(bp), "<", t.rev+1).WithRange(clientv3.GetPrefixRangeEnd(bp)))
	}
	return cmps
}

// bucketOf returns the bucket prefix ("<prefix>/<bucket>/") of a full key.
func (s *Store) bucketOf(k string) string {
	rest := k[len(s.cfg.Prefix)+1:]
	return k[:len(k)-len(rest)+strings.IndexByte(rest, '/')+1]
}
